"""Container healthcheck: GET /healthz/ from this container's gunicorn.

With ``--no-http`` (the worker and scheduler containers, which serve nothing): healthy
when the database answers this container's settings.

Healthy when it answers 200 "ok" (the database answers too). The Host header
is the first of ALLOWED_HOSTS, so Django accepts the request; /healthz/ is
exempt from the HTTPS redirect. Standard library only (the image has no curl).
"""

import os
import sys
import urllib.request

if "--no-http" in sys.argv:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivigtrial.settings")
    try:
        import django

        django.setup()
        from django.db import connection

        connection.ensure_connection()
    except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
        print(f"unhealthy: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)

hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
host = hosts[0] if hosts else "localhost"
if host == "*":
    host = "localhost"
elif host.startswith("."):  # ".example.org" allows any subdomain
    host = "healthcheck" + host
port = os.environ.get("PORT", "8000")
request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz/", headers={"Host": host})
try:
    with urllib.request.urlopen(request, timeout=4) as answer:
        healthy = answer.status == 200 and answer.read(16) == b"ok"
except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy"
    print(f"unhealthy: {exc}", file=sys.stderr)
    healthy = False
sys.exit(0 if healthy else 1)
