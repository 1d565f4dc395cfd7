#!/usr/bin/env bash
# APP_PREPARE of the shared page benchmark (/work/shared/bench/run_all.sh): builds the CRM
# app's SQLite database for one scale from the harness's CSVs, through the product's own
# commands only (crm migrate, crm import, crm user add), so the page numbers are measured
# on exactly what a customer would get from an import.
#
#   bench/app_prepare.sh [SCALE]      # SCALE default $SCALE or 0.1; CSVs in $DATA or /tmp/benchdata/s<SCALE>
#
# Output: $APP_DB_DIR/s<SCALE>.sqlite3 (default /tmp/benchapp). Built as *.tmp and renamed at
# the end, so a half-built file is never reused; an existing file is kept (delete it to rebuild).
# The user `bench` (password benchpass, role sales_manager: reads every account, contact,
# deal and activity through the ordinary permission filter) signs in for the pages.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SCALE=${1:-${SCALE:-0.1}}
DATA=${DATA:-/tmp/benchdata/s$SCALE}
DB_DIR=${APP_DB_DIR:-/tmp/benchapp}
DB="$DB_DIR/s$SCALE.sqlite3"
CONFIG="$ROOT/bench/config"
CRM="$ROOT/.venv/bin/crm"
PY="$ROOT/.venv/bin/python"
GEN=${CRM_BENCH_GENERATOR:-/work/shared/bench/gen_data.py}

log() { printf '[app_prepare %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

if [ -f "$DB" ]; then
  log "reusing $DB (delete it to rebuild); crm migrate to the current configuration"
  "$CRM" migrate --config "$CONFIG" --db "sqlite:///$DB" | tail -n 1
  exit 0
fi
if [ ! -f "$DATA/DONE" ]; then
  log "generating CSVs (scale $SCALE) into $DATA"
  mkdir -p "$DATA"
  "$PY" "$GEN" --scale "$SCALE" --out "$DATA"
fi

mkdir -p "$DB_DIR"
TMP="$DB.tmp"
rm -f "$TMP" "$TMP-wal" "$TMP-shm"
URL="sqlite:///$TMP"

log "crm migrate"
"$CRM" migrate --config "$CONFIG" --db "$URL" >/dev/null
# users first, ids kept, so owner_id in the other files finds them
log "crm import user users.csv"
"$CRM" import user "$DATA/users.csv" --role rep --config "$CONFIG" --db "$URL" --quiet
for pair in account:accounts contact:contacts deal:deals activity:activities; do
  entity=${pair%%:*}; file=${pair#*:}
  log "crm import $entity $file.csv"
  # the importer prints its own summary line with rows/s; refused rows go to the report
  "$CRM" import "$entity" "$DATA/$file.csv" --config "$CONFIG" --db "$URL" --quiet \
      --report "$DB_DIR/s$SCALE-$file-refused.csv"
done

log "bench user (sales_manager) + search index + ANALYZE"
printf 'benchpass\n' | "$CRM" user add bench --role sales_manager --full-name 'Bench Manager' \
    --password-stdin --config "$CONFIG" --db "$URL" >/dev/null
"$PY" - "$TMP" "$CONFIG" <<'PYEOF'
import sqlite3, sys
sys.path.insert(0, ".")
from engine.metadata.loader import load_config
from engine.runtime.db import make_engine
from engine.runtime.search import ensure_search_index
path, config_dir = sys.argv[1:]
engine = make_engine(f"sqlite:///{path}")
for line in ensure_search_index(engine, load_config(config_dir)):
    print("  " + line)
engine.dispose()
con = sqlite3.connect(path)
con.execute("ANALYZE")
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
con.close()
PYEOF
mv "$TMP" "$DB"
rm -f "$TMP-wal" "$TMP-shm"
log "done: $DB ($(du -h "$DB" | cut -f1))"
