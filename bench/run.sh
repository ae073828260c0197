#!/usr/bin/env bash
# make bench: page, report, export and memory benchmarks on PostgreSQL.
#
#   bash bench/run.sh                 # the whole run (about 10-15 minutes)
#   BENCH_REUSE=1 bash bench/run.sh   # keep the bench databases if they already hold the cohorts
#   BENCH_ONLY="pages report" ...     # only some steps: memory exports report pages
#
# Two databases on the local PostgreSQL (127.0.0.1:5432, user postgres, trust):
# ${BENCH_DB}_1k (1,000 patients) and ${BENCH_DB} (10,000 patients), 6 cycles
# each, made by `manage.py generate_cohort` (seed_demo when that command is not
# there). Then:
#   memory   peak RSS growth of each export in a fresh process, 1k and 10k patients
#   exports  rows/s of each export (the streaming generator the view uses) vs COPY
#   report   the report's aggregates (reporting.selectors.outcome_report) vs one SQL query
#   pages    wrk against gunicorn (2 workers, DEBUG off): pages / bare /healthz/
#   jobs     an export run as a background job / the same export streamed (BENCH_JOB_FORMATS)
# Results: bench/tmp/*.json, a table on stdout and bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
TMP="$ROOT/bench/tmp"
mkdir -p "$TMP"

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
BENCH_DB="${BENCH_DB:-ivig_bench}"
PATIENTS="${BENCH_PATIENTS:-10000}"
SMALL_PATIENTS="${BENCH_SMALL_PATIENTS:-1000}"
CYCLES="${BENCH_CYCLES:-6}"
SITES="${BENCH_SITES:-20}"
REUSE="${BENCH_REUSE:-0}"
CONN_MAX_AGE="${BENCH_CONN_MAX_AGE:-60}"
ONLY="${BENCH_ONLY:-memory exports report pages jobs}"
export BENCH_WRK_DURATION="${BENCH_WRK_DURATION:-10}"

export DEBUG=0
export SECRET_KEY="bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS=127.0.0.1
export LOG_LEVEL=WARNING
# Plain HTTP on 127.0.0.1; no lockout.
export SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0 AXES_ENABLED=0

SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

wants() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
url_for() { echo "postgres://$PGUSER@$PGHOST:$PGPORT/$1"; }
START=$(date +%s)
step() { echo "== [$(( $(date +%s) - START ))s] $*"; }

if wants pages && ! command -v wrk > /dev/null; then
  step "installing wrk"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get install -y wrk > /dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y wrk > /dev/null; }
fi

# prepare DB PATIENTS: a migrated database holding the cohort and the bench users.
prepare() {
  local db="$1" n="$2"
  export DATABASE_URL; DATABASE_URL="$(url_for "$db")"
  if [ "$REUSE" = 1 ] && psql -d "$db" -Atc "select 1" > /dev/null 2>&1; then
    local have; have="$(psql -d "$db" -Atc "select count(*) from patients_patient" 2>/dev/null || echo 0)"
    if [ "$have" -ge "$n" ] 2>/dev/null; then
      step "reusing $db ($have patients)"
      "$PY" bench/bench.py users > /dev/null
      return
    fi
  fi
  step "database $db: create, migrate, $n patients x $CYCLES cycles"
  psql -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null
  psql -d postgres -qc "CREATE DATABASE $db" > /dev/null
  "$PY" manage.py migrate --noinput -v 0
  local t0; t0=$(date +%s)
  if [ -f demo/management/commands/generate_cohort.py ]; then
    "$PY" manage.py generate_cohort --fast --patients "$n" --cycles "$CYCLES" --sites "$SITES" --seed 42
  else
    echo "   (no generate_cohort command: seed_demo's 11 patients only)"
    "$PY" manage.py seed_demo --force > /dev/null
  fi
  echo "{\"db\": \"$db\", \"patients\": $n, \"seconds\": $(( $(date +%s) - t0 ))}" > "$TMP/generate-$db.json"
  "$PY" bench/bench.py users > /dev/null
  psql -d "$db" -qc "VACUUM ANALYZE" > /dev/null
}

rm -f "$TMP"/job-overhead.json
rm -f "$TMP"/memory-*.json "$TMP"/exports.json "$TMP"/report.json "$TMP"/pages.json "$TMP"/cohort-*.json

if wants memory; then
  prepare "${BENCH_DB}_1k" "$SMALL_PATIENTS"
  step "export memory at $SMALL_PATIENTS patients (fresh process per export)"
  "$PY" bench/bench.py memory --label small --out "$TMP/memory-small.json"
fi

prepare "$BENCH_DB" "$PATIENTS"
"$PY" bench/bench.py cohort --out "$TMP/cohort-big.json"

if wants memory; then
  step "export memory at $PATIENTS patients"
  "$PY" bench/bench.py memory --label big --out "$TMP/memory-big.json"
fi
if wants exports; then
  step "export throughput vs COPY"
  "$PY" bench/bench.py exports --out "$TMP/exports.json"
fi
if wants jobs; then
  step "exports as background jobs vs streamed (${BENCH_JOB_FORMATS:-csv,xlsx})"
  "$PY" bench/bench.py job-overhead --out "$TMP/job-overhead.json"
fi
if wants report; then
  step "report aggregates vs one SQL query"
  "$PY" bench/bench.py report --out "$TMP/report.json"
fi

if wants pages; then
  step "gunicorn (2 workers, DEBUG off, persistent database connections: conn_max_age=$CONN_MAX_AGE)"
  "$PY" manage.py collectstatic --noinput -v 0
  # Persistent connections, as a production DATABASE_URL should have them: without, every
  # request opens a PostgreSQL connection (several ms, more than the bare view itself).
  if [ "$CONN_MAX_AGE" != 0 ]; then
    DATABASE_URL="$DATABASE_URL?conn_max_age=$CONN_MAX_AGE&conn_health_checks=true"
  fi
  PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$ROOT/.venv/bin/gunicorn" ivigtrial.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 \
    --no-control-socket > "$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$PORT/healthz/" 2> /dev/null && break
    sleep 0.2
  done
  step "wrk: pages vs /healthz/ (${BENCH_WRK_DURATION}s each)"
  "$PY" bench/bench.py pages --base "http://127.0.0.1:$PORT" --out "$TMP/pages.json"
  cleanup; SERVER_PID=""
  if grep -q "Traceback" "$TMP/server.log"; then
    echo "== server tracebacks:"; grep -m 3 -A30 "Traceback" "$TMP/server.log"
  fi
fi

step "summary"
"$PY" bench/bench.py summary --tmp "$TMP" --results "$ROOT/bench/results.md"
step "done"
