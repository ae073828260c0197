"""Installation qualification (issue 18): the checks on this environment, and broken cases."""

import pytest
from django.db import connection

from validation import iq

PG = connection.vendor == "postgresql"


def test_every_pinned_package_is_installed_at_its_version():
    for path in iq.REQUIREMENT_FILES:
        check = iq.check_packages(path)
        assert check.status == iq.PASSED, check.detail
        assert check.items and all(item["passed"] for item in check.items)
    runtime = iq.check_packages(iq.ROOT / "requirements.txt")
    assert {"package": "Django", "pinned": "5.2.19", "installed": "5.2.19", "line": 3,
            "passed": True} in runtime.items


def test_a_wrong_pin_fails_naming_the_package(tmp_path):
    (tmp_path / "base.txt").write_text("Django==5.2.19\n")
    requirements = tmp_path / "requirements-dev.txt"
    requirements.write_text("-r base.txt\n# tools\npytest==1.0.0  # far too old\nno-such-package-hvb==1.0\n"
                            "requests>=2\n")
    pins = iq.read_pins(requirements)
    assert [(pin.name, pin.version, pin.file) for pin in pins] == [
        ("Django", "5.2.19", "base.txt"), ("pytest", "1.0.0", "requirements-dev.txt"),
        ("no-such-package-hvb", "1.0", "requirements-dev.txt"), ("requests", "", "requirements-dev.txt")]
    check = iq.check_packages(requirements)
    assert check.status == iq.FAILED and not check.passed
    assert check.actual == "0 of 3 at the pinned version"
    assert "pytest: pinned 1.0.0, installed 9.2.0" in check.detail
    assert "no-such-package-hvb: pinned 1.0, not installed" in check.detail
    assert "requests: not pinned with ==" in check.detail
    assert iq.check_packages(tmp_path / "base.txt").status == iq.PASSED  # the include has its own check


@pytest.mark.parametrize("version,status", [((3, 11, 7), iq.PASSED), ((3, 12, 1), iq.WARNING),
                                            ((3, 10, 9), iq.FAILED)])
def test_python_version_against_the_minimum_and_the_dockerfile(version, status):
    check = iq.check_python(version)
    assert check.status == status
    assert "Dockerfile: python:3.11" in check.expected


@pytest.mark.django_db
def test_migrations_applied_and_audit_tables_protected_on_the_test_database():
    migrations = iq.check_migrations(connection)
    assert migrations.status == iq.PASSED and migrations.actual.endswith(", 0 pending")
    append_only = iq.check_append_only(connection)
    assert append_only.status == iq.PASSED, append_only.detail
    assert "oversight_accessevent" in append_only.items


@pytest.mark.django_db
def test_an_unprotected_audit_table_fails():
    from oversight import append_only

    append_only.unprotect_tables(connection, ["oversight_accessevent"])  # rolled back with the test
    check = iq.check_append_only(connection)
    assert check.status == iq.FAILED and "oversight_accessevent" in check.detail


@pytest.mark.django_db
def test_database_version_and_role():
    database = iq.check_database(connection)
    role = iq.check_database_role(connection, role=None)
    if PG:
        assert database.status in (iq.PASSED, iq.WARNING) and database.actual.startswith("PostgreSQL ")
        assert "postgres:16" in database.expected
        assert role.status == iq.FAILED and "APP_DATABASE_URL" in role.detail
    else:
        assert database.status == iq.WARNING and "not for production" in database.detail
        assert role.status == iq.NOT_APPLICABLE


def test_the_deployment_environment_comes_from_docker_compose():
    env, generated = iq.deployment_environment("sqlite:////tmp/x.sqlite3", environ={"ALLOWED_HOSTS": "edc.example.org"})
    assert env["DEBUG"] == "0" and env["SECURE_PROXY_SSL_HEADER"] == "1"
    assert env["ALLOWED_HOSTS"] == "edc.example.org" and env["DATABASE_URL"] == "sqlite:////tmp/x.sqlite3"
    assert generated == ["SECRET_KEY"] and len(env["SECRET_KEY"]) >= 50
    assert iq.application_role({"APP_DATABASE_URL": "postgres://ivigtrial_app:pw@db:5432/ivigtrial"}) == "ivigtrial_app"


def test_check_output_is_parsed():
    output = ("SystemCheckError: System check identified some issues:\n\nERRORS:\n"
              "?: (core.E001) The static files manifest /x/staticfiles.json is missing.\n\tHINT: Run collectstatic\n\n"
              "WARNINGS:\n?: (security.W004) You have not set a value for SECURE_HSTS_SECONDS.\n")
    assert [(m["id"], m["level"]) for m in iq.parse_check_output(output)] == [
        ("core.E001", "error"), ("security.W004", "warning")]


def test_check_deploy_without_collected_static_files_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("STATIC_ROOT", str(tmp_path))  # empty: no manifest
    check = iq.check_deploy(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert check.status == iq.FAILED
    assert "core.E001" in check.detail and "DEBUG=0" in check.detail
    assert check.actual.startswith("1 errors")
