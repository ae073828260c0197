"""WSGI entry point (gunicorn ivigtrial.wsgi)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivigtrial.settings")
application = get_wsgi_application()

# With DEBUG off, no server without the collectstatic manifest (every page would be a 500).
from core.checks import require_static_manifest  # noqa: E402 (needs the apps loaded)

require_static_manifest()
