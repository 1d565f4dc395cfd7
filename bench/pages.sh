#!/usr/bin/env bash
# The page benchmark (L1 list, L2 search, L3 account 360, R1 pipeline report): the CRM app
# measured as the third server of the shared harness, beside the raw-SQL floor and Django
# admin, in one run_all.sh session (see /work/shared/bench/README.md, "Measuring the CRM app").
#
#   bench/pages.sh [SCALE]            # SCALE default 0.1; `make bench SCALE=1` for 1M deals
#   SKIP_DJANGO=1 DURATION=3s ROUNDS=1 bench/pages.sh 0.1    # quick app-vs-floor check
#   CRM_BENCH_INDEXES=single bench/pages.sh 0.1      # the app without the composite indexes the
#       engine derives from list filters + sort (single-column ones only, like the floor):
#       serves a copy /tmp/benchapp/s<SCALE>-single.sqlite3 made by bench/single_column_db.py
#   CRM_BENCH_PAGE_MEMO=off bench/pages.sh 0.1       # `crm serve --no-page-memo`: every record
#       page read and rendered (by default a page is served again while the database is unchanged,
#       ui/page_memo.py: the harness asks for one account again and again, on a database nobody writes)
#
# What it does, in order (nothing outside /tmp and bench/results/ is written):
#  1. Tools: if wrk, curl, taskset, setsid or sqlite3 are missing, runs
#     `apt-get install -y wrk hyperfine curl util-linux sqlite3` (needs root; says so first).
#  2. The harness's own venv /tmp/benchvenv (Django, gunicorn, uvicorn: its pinned
#     requirements.txt) if missing. run_all.sh itself then builds the CSVs and the floor's and
#     Django's SQLite files if missing.
#  3. run_all.sh with APP_PREPARE=bench/app_prepare.sh (our database at
#     /tmp/benchapp/s<SCALE>.sqlite3 through `crm migrate` + `crm import`, cached), APP_START
#     = `crm serve` (uvicorn, one worker, no access log) on the harness's app port,
#     APP_COOKIE_CMD=bench/app_cookie.sh (signs in through the login form).
#  4. Copies results.md to bench/results/pages-s<SCALE>-<UTC stamp>.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCALE=${1:-${SCALE:-0.1}}
HARNESS=${CRM_BENCH_HARNESS:-/work/shared/bench}
export VENV=${VENV:-/tmp/benchvenv}
RESULTS_ROOT=${RESULTS_ROOT:-/tmp/benchresults}
export RESULTS_ROOT

missing=()
for tool in wrk curl taskset setsid sqlite3; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench/pages.sh: missing ${missing[*]}: installing with apt-get (wrk hyperfine curl util-linux sqlite3; needs root)" >&2
  apt-get install -y wrk hyperfine curl util-linux sqlite3 || { apt-get update && apt-get install -y wrk hyperfine curl util-linux sqlite3; }
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "bench/pages.sh: creating the harness's venv $VENV from $HARNESS/requirements.txt" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$HARNESS/requirements.txt"
fi

# The app's commands run with bash -c in this directory; $DATA, $SCALE, $APP_PORT and
# $ACCOUNT_ID come from run_all.sh, hence the single quotes.
export APP_NAME="crm engine (bench/config, crm serve: uvicorn 1 worker, SQLite)"
export APP_PREPARE='bench/app_prepare.sh "$SCALE"'
APP_DB_NAME='s$SCALE'
case ${CRM_BENCH_INDEXES:-derived} in
  derived) ;;
  single)
    APP_NAME="$APP_NAME, single-column indexes only"
    APP_PREPARE='bench/app_prepare.sh "$SCALE" && .venv/bin/python bench/single_column_db.py "/tmp/benchapp/s$SCALE.sqlite3"'
    APP_DB_NAME='s$SCALE-single' ;;
  *) echo "bench/pages.sh: CRM_BENCH_INDEXES must be derived or single" >&2; exit 2 ;;
esac
SERVE_FLAGS=--no-access-log
case ${CRM_BENCH_PAGE_MEMO:-on} in
  on) ;;
  off) APP_NAME="$APP_NAME, --no-page-memo"; SERVE_FLAGS="$SERVE_FLAGS --no-page-memo" ;;
  *) echo "bench/pages.sh: CRM_BENCH_PAGE_MEMO must be on or off" >&2; exit 2 ;;
esac
export APP_START='CRM_SECRET_KEY=bench-page-benchmark-session-key-0123456789abcdef exec .venv/bin/crm serve --config bench/config --db "sqlite:////tmp/benchapp/'"$APP_DB_NAME"'.sqlite3" --host 127.0.0.1 --port "$APP_PORT" '"$SERVE_FLAGS"
export APP_HEALTH=/healthz
export APP_COOKIE_CMD='bench/app_cookie.sh "http://127.0.0.1:$APP_PORT" bench benchpass'
ACCOUNT_ID=${ACCOUNT_ID:-4242}
export ACCOUNT_ID
export APP_L1='/records/deal?stage=negotiation&owner=7&sort=-amount'   APP_MARK_L1='id="list-results"'
export APP_L2='/records/deal?q=acme'                                    APP_MARK_L2='id="list-results"'
export APP_L3="/records/account/$ACCOUNT_ID"                            APP_MARK_L3='id="related-deal"'
if grep -q 'reports\.ROUTES' ui/pages/__init__.py; then
  export APP_R1=${APP_R1-'/reports/pipeline?period=custom&period__from=2025-01-01&period__to=2025-12-31'}
  export APP_MARK_R1=${APP_MARK_R1:-'class="report-table"'}
else
  echo "bench/pages.sh: the report page (ui/pages/reports.py) is not registered: R1 not measured for the app" >&2
  export APP_R1=''
fi
export SEQ=${SEQ:-25}

log=$(mktemp)
"$HARNESS/run_all.sh" "$SCALE" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
folder=$(sed -n 's/.*servers stopped; results in \(.*\)$/\1/p' "$log" | tail -n 1)
rm -f "$log"
[ "$status" = 0 ] || exit "$status"
mkdir -p bench/results
out="bench/results/pages-s$SCALE$([ "${CRM_BENCH_INDEXES:-derived}" = single ] && echo -single || true)$([ "${CRM_BENCH_PAGE_MEMO:-on}" = off ] && echo -nomemo || true)-$(basename "$folder").md"
{ echo "# Page benchmark, scale $SCALE: $(basename "$folder")"; echo
  echo '```'; cat "$folder/meta.txt"; echo '```'; echo
  cat "$folder/results.md"; } >"$out"
echo "bench/pages.sh: results copied to $out"
