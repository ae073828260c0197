import os
import subprocess
import sys
from pathlib import Path

import environ
import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_check(env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL")}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.req("URS-VAL-004")
def test_missing_secret_key_is_a_clear_start_up_error():
    result = run_check({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_runs_without_a_secret_key():
    result = run_check({"DEBUG": "1"})
    assert result.returncode == 0, result.stderr


def test_database_url_selects_postgresql():
    config = environ.Env.db_url_config("postgres://postgres@127.0.0.1:5432/ivigtrial")
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "ivigtrial"


def test_settings_defaults(settings):
    assert settings.USE_TZ is True
    assert settings.DEBUG is False
    assert "simple_history.middleware.HistoryRequestMiddleware" in settings.MIDDLEWARE
