"""Settings for the app servers that tests/scaleout starts: the production
settings (DEBUG off, database sessions, django-axes...) unchanged, except that
static files are not looked up in a collectstatic manifest (the tests do not
run collectstatic; static files play no part in scale-out)."""

from ivigtrial.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
