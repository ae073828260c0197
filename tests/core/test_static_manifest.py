"""Issue 12, finding 11: with DEBUG off and no collectstatic manifest every page was
a 500; the server now refuses to start, with a message that says what to run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.checks import static_manifest_errors

ROOT = Path(__file__).resolve().parent.parent.parent
MANIFEST_STORAGE = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}


def start_server(static_root):
    """Import the WSGI application as gunicorn does, DEBUG off."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL")}
    env.update(DEBUG="0", SECRET_KEY="x", DJANGO_SETTINGS_MODULE="tests.static_manifest_settings",
               TEST_STATIC_ROOT=str(static_root))
    return subprocess.run([sys.executable, "-c", "import ivigtrial.wsgi"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def write_manifest(static_root, paths):
    static_root.mkdir(exist_ok=True)
    (static_root / "staticfiles.json").write_text(json.dumps({"paths": paths, "version": "1.1", "hash": "x"}))


@pytest.mark.req("URS-VAL-004")
def test_server_refuses_to_start_without_the_manifest(tmp_path):
    result = start_server(tmp_path)
    assert result.returncode != 0
    assert "static files manifest" in result.stderr and "collectstatic --noinput" in result.stderr


@pytest.mark.parametrize("debug_storage", [True, False])
def test_check_reports_a_missing_then_a_stale_manifest(settings, tmp_path, debug_storage):
    if debug_storage:  # DEBUG=1 (make run) and the test suite: no manifest needed
        assert static_manifest_errors() == []
        return
    settings.STORAGES = {**settings.STORAGES, "staticfiles": MANIFEST_STORAGE}
    settings.STATIC_ROOT = str(tmp_path)
    assert [e.id for e in static_manifest_errors()] == ["core.E001"]
    write_manifest(tmp_path, {"css/app.css": "css/app.123.css"})
    errors = static_manifest_errors()
    assert [e.id for e in errors] == ["core.E002"] and "collectstatic" in errors[0].hint
    from core.checks import _static_files

    write_manifest(tmp_path, {path: path for path in _static_files()})
    assert static_manifest_errors() == []
