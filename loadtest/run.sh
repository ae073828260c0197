#!/usr/bin/env bash
# Load test (make loadtest; about two minutes): eight clinicians record
# treatment cycles for DURATION seconds against gunicorn + PostgreSQL, with one
# database-connection fault halfway; then every save is checked in the
# database and loadtest/report.md is written. Exit status 1 on a 5xx outside
# the fault window or a lost, duplicated or partial save.
#
#   bash loadtest/run.sh        # DURATION=60 WORKERS=3 FAULT=1 RACE_ROUNDS=5
#
# Needs a PostgreSQL server that lets PGUSER create databases (PGHOST
# 127.0.0.1, PGUSER postgres, PGPORT 5432 by default). A fresh database is
# created and dropped, and the server stopped, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
export PGHOST="${PGHOST:-127.0.0.1}" PGUSER="${PGUSER:-postgres}" PGPORT="${PGPORT:-5432}"
export DURATION="${DURATION:-60}" WORKERS="${WORKERS:-3}" FAULT="${FAULT:-1}" RACE_ROUNDS="${RACE_ROUNDS:-5}"
DB="${LOADTEST_DB:-ivig_loadtest_$$}"

WORK="$(mktemp -d)"
SERVER_PID=""
DB_CREATED=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$DB_CREATED" ]; then
    dropdb --if-exists "$DB" 2>/dev/null || echo "warning: could not drop database $DB" >&2
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export DJANGO_SETTINGS_MODULE=loadtest.settings
export LOADTEST_STATIC_ROOT="$WORK/static"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
export PG_DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
export DEBUG=0
export SECRET_KEY="load-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS=127.0.0.1
export LOG_LEVEL=WARNING
# Plain HTTP on 127.0.0.1 (no TLS proxy here). django-axes stays on: the logins are real.
export SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0

echo "== fresh PostgreSQL database $DB on $PGHOST:$PGPORT"
createdb "$DB"
DB_CREATED=1
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py seed_demo --force > /dev/null
"$PY" manage.py collectstatic --noinput -v 0
"$PY" loadtest/setup_db.py "$WORK/setup.json"

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export BASE_URL="http://127.0.0.1:$PORT"
echo "== gunicorn ($WORKERS workers) on $BASE_URL"
"$ROOT/.venv/bin/gunicorn" ivigtrial.wsgi:application --bind "127.0.0.1:$PORT" --workers "$WORKERS" \
  --timeout 120 --no-control-socket --access-logfile "$WORK/access.log" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
up=""
for _ in $(seq 1 150); do
  if "$PY" -c 'import os, sys, urllib.request; urllib.request.urlopen(os.environ["BASE_URL"] + "/healthz/", timeout=2)' 2>/dev/null; then
    up=1; break
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "gunicorn did not come up:"; tail -n 40 "$WORK/server.log"; exit 1
fi

echo "== eight clinicians for ${DURATION}s (fault: $FAULT), then $RACE_ROUNDS race rounds"
"$PY" loadtest/clinicians.py "$WORK/setup.json" "$WORK/results.json"

echo "== checking every save in the database"
status=0
"$PY" loadtest/verify.py "$WORK/setup.json" "$WORK/results.json" "$WORK/server.log" "$ROOT/loadtest/report.md" \
  || status=$?
if grep -q "Traceback" "$WORK/server.log"; then
  echo "== first server traceback:"; grep -m 1 -B2 -A30 "Traceback" "$WORK/server.log" || true
fi
exit $status
