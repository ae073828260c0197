"""Start-up checks of the deployment.

With DEBUG off, static files are served from the ``collectstatic`` manifest
(whitenoise's ``CompressedManifestStaticFilesStorage``): without it, or with a
manifest older than the static files, every page that links a static file is
a 500 ("Missing staticfiles manifest entry"). The server refuses to start
instead (``ivigtrial/wsgi.py``, so gunicorn and ``runserver`` alike), and
``manage.py check --deploy`` reports it. Management commands still run
without it (``migrate`` before ``collectstatic`` is a normal order).
"""

from django.conf import STATICFILES_STORAGE_ALIAS, settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core import checks
from django.core.files.storage import storages
from django.core.exceptions import ImproperlyConfigured

COLLECT_HINT = ("Run `python manage.py collectstatic --noinput` (with the same settings) before "
                "starting the server; the Dockerfile does it when the image is built. For "
                "development, DEBUG=1 (`make run`) serves static files without a manifest.")


def _static_files():
    """The relative paths of every static file the finders see (what collectstatic copies)."""
    found = set()
    for finder in finders.get_finders():
        for path, _storage in finder.list(["CVS", ".*", "*~"]):
            found.add(path.replace("\\", "/"))
    return found


def static_manifest_errors():
    """Errors (empty when fine) about the static files manifest."""
    storage = storages[STATICFILES_STORAGE_ALIAS]
    if not isinstance(storage, ManifestFilesMixin):
        return []
    where = f"{settings.STATIC_ROOT}/{storage.manifest_name}"
    content = storage.read_manifest()
    if content is None:
        return [checks.Error(f"The static files manifest {where} is missing: with DEBUG off every page "
                             "would fail with 'Missing staticfiles manifest entry'.",
                             hint=COLLECT_HINT, id="core.E001")]
    try:
        paths, _hash = storage.load_manifest()
    except ValueError as error:
        return [checks.Error(f"The static files manifest {where} cannot be read: {error}.",
                             hint=COLLECT_HINT, id="core.E001")]
    missing = sorted(_static_files() - set(paths))
    if missing:
        return [checks.Error(f"The static files manifest {where} is older than the static files: "
                             f"{len(missing)} file(s) are not in it, e.g. {', '.join(missing[:3])}.",
                             hint=COLLECT_HINT, id="core.E002")]
    return []


@checks.register(checks.Tags.staticfiles, deploy=True)
def check_static_manifest(app_configs=None, **kwargs):
    return static_manifest_errors()


def require_static_manifest():
    """Refuse to serve (raise ImproperlyConfigured) when the manifest is missing or stale."""
    errors = static_manifest_errors()
    if errors:
        raise ImproperlyConfigured("\n".join(f"{e.msg}\nHINT: {e.hint}" for e in errors))
