#!/usr/bin/env bash
# Fuzz the REST API with schemathesis against a live server (bounded: about
# two minutes). Every check (--checks all) must pass: no 5xx, every response
# as documented in /api/v1/schema/.
#
#   bash api/fuzz.sh            # MAX_TIME=90 by default
#
# A fresh SQLite database in a temporary directory, migrated and seeded with
# the demo study; gunicorn (DEBUG off) on 127.0.0.1 at a free port; a token for
# the demo admin; then schemathesis; the server is stopped and the directory
# removed whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
MAX_TIME="${MAX_TIME:-90}"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export DATABASE_URL="sqlite:///$WORK/db.sqlite3"
export DEBUG=0
export SECRET_KEY="fuzz-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ALLOWED_HOSTS=127.0.0.1
export LOG_LEVEL=WARNING
# Plain HTTP on 127.0.0.1; schemathesis's bad credentials must not lock anyone out.
export SECURE_SSL_REDIRECT=0 SECURE_COOKIES=0 SECURE_HSTS_SECONDS=0 AXES_ENABLED=0

PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

echo "== fresh database with the demo study ($WORK)"
# DEBUG off: the server refuses to start without the collectstatic manifest.
export STATIC_ROOT="$WORK/static"
"$PY" manage.py collectstatic --noinput -v 0
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py seed_demo --force > /dev/null
TOKEN="$("$PY" manage.py shell -v 0 -c '
from django.contrib.auth.models import User
from api.services import token_create
print(token_create(user=User.objects.get(username="admin"))[1])' | tail -n 1)"

echo "== gunicorn on $BASE"
# --limit-request-line 0: the fuzzer's longest query strings reach Django (a
# front proxy's URL limit is the deployment's business, not the API's).
"$ROOT/.venv/bin/gunicorn" ivigtrial.wsgi:application --bind "127.0.0.1:$PORT" --workers 1 \
  --limit-request-line 0 --no-control-socket --access-logfile "$WORK/access.log" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do  # up when it answers at all (anonymous: 401)
  "$PY" - "$BASE/api/v1/schema/" 2>/dev/null <<'PYEOF' && break
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PYEOF
  sleep 0.2
done

echo "== schemathesis (max ${MAX_TIME}s)"
cd "$WORK"
status=0
"$ROOT/.venv/bin/schemathesis" --config-file "$ROOT/api/schemathesis.toml" run "$BASE/api/v1/schema/" \
  --url "$BASE" -H "Authorization: Token $TOKEN" \
  --checks all --max-time "$MAX_TIME" --workers 1 \
  --generation-database none --no-color || status=$?

if grep -q '" 5[0-9][0-9] ' "$WORK/access.log"; then
  echo "== 5xx answers in the access log:"; grep -m 20 '" 5[0-9][0-9] ' "$WORK/access.log"
  status=1
fi
if grep -q "Traceback" "$WORK/server.log"; then
  echo "== server tracebacks:"; grep -m 3 -B2 -A40 "Traceback" "$WORK/server.log"
fi
echo "== $(wc -l < "$WORK/access.log") requests served"
exit $status
