#!/usr/bin/env bash
# R1 under load with and without report turns (ui/report_turns.py): the pipeline report page
# served by `crm serve` (pinned to CPU 1, like the page benchmark) with CRM_REPORTS_AT_ONCE=1
# (the default on one CPU) and with 8 (every request at once, as before turns existed), each
# loaded by `wrk -t2 -c8` (pinned to CPU 0) for DURATION, after a warm-up.
#
#   bench/report_turns.sh [SCALE] [DURATION]        # default 1 and 20s; needs /tmp/benchapp/s<SCALE>.sqlite3
#
# Prints, per limit: wrk's summary (req/s, latency, timeouts) and the server's CPU seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCALE=${1:-1}
DURATION=${2:-20s}
PORT=${PORT:-8113}
URL="http://127.0.0.1:$PORT/reports/pipeline?period=custom&period__from=2025-01-01&period__to=2025-12-31"
DB="/tmp/benchapp/s$SCALE.sqlite3"
[ -f "$DB" ] || { echo "report_turns.sh: $DB missing (build it with bench/app_prepare.sh $SCALE)" >&2; exit 1; }

for limit in 1 8; do
  CRM_REPORTS_AT_ONCE=$limit CRM_SECRET_KEY=bench-page-benchmark-session-key-0123456789abcdef \
    taskset -c 1 .venv/bin/crm serve --config bench/config --db "sqlite:///$DB" --host 127.0.0.1 \
    --port "$PORT" --no-access-log >/tmp/report_turns_server.log 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  cookie=$(bench/app_cookie.sh "http://127.0.0.1:$PORT" bench benchpass)
  page=$(curl -sf -H "$cookie" "$URL" || true)
  [[ "$page" == *'class="report-table"'* ]] || { echo "R1 did not answer" >&2; kill "$server"; exit 1; }
  taskset -c 0 wrk -t2 -c8 -d5s --timeout 30s -H "$cookie" "$URL" >/dev/null      # warm-up
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  echo "== CRM_REPORTS_AT_ONCE=$limit: wrk -t2 -c8 -d$DURATION --timeout 30s"
  taskset -c 0 wrk -t2 -c8 -d"$DURATION" --timeout 30s --latency -H "$cookie" "$URL"
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  awk -v t="$(( after - before ))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "server CPU seconds: %.2f\n", t / hz }'
  kill "$server"; wait "$server" 2>/dev/null || true
done
