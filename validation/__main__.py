"""``python -m validation`` (``make validate``): install, qualify, run the suite, report.

1. The installed system: the database of ``DATABASE_URL`` is created when missing
   (PostgreSQL), migrated, the static files collected, and the application's role granted
   (``grant_app_role --create``, when ``APP_DATABASE_URL`` names it): what the deployment's
   ``migrate`` service and ``Dockerfile`` do. ``--no-install`` only checks.
2. Installation qualification (:mod:`validation.iq`), written to ``iq.json``.
3. Operational qualification: the suite with ``--junitxml`` (:mod:`validation.oq`);
   ``VALIDATE_PYTEST_ARGS`` narrows it (default: the whole suite).
4. The last ``make bench`` and ``make loadtest`` results (:mod:`validation.performance`).
5. The report (:mod:`validation.report`): ``report.html`` and ``report.pdf``.

Exit status 1 when a high-risk requirement lacks passing evidence, an installation check
failed, or the suite did not complete; 0 otherwise; 2 for a usage error.
"""

import argparse
import json
import os
import secrets
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "validation" / "out"


def _arguments(argv):
    parser = argparse.ArgumentParser(prog="python -m validation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=None,
                        help="the requirements catalogue (default: validation/requirements.yaml)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: validation/out)")
    parser.add_argument("--no-install", action="store_true",
                        help="check the database as it is: no create, migrate, collectstatic or grant")
    return parser.parse_args(argv)


def load_catalogue(path=None):
    # Imported here: the catalogue module is the requirements' owner (validation.catalogue).
    from validation.catalogue import load_requirements

    return load_requirements(path) if path is not None else load_requirements()


def create_database_if_missing(connection):
    """PostgreSQL: CREATE DATABASE when the target does not exist yet (a fresh clone)."""
    if connection.vendor != "postgresql":
        return False
    import psycopg2
    from psycopg2 import sql

    params = connection.get_connection_params()
    name = params.pop("database", None) or params.pop("dbname", None)
    params = {key: value for key, value in params.items() if key in ("host", "port", "user", "password")}
    maintenance = psycopg2.connect(dbname="postgres", **params)
    maintenance.autocommit = True
    try:
        with maintenance.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    finally:
        maintenance.close()


def install(connection, out=sys.stdout):
    from django.conf import STATICFILES_STORAGE_ALIAS
    from django.contrib.staticfiles.storage import ManifestFilesMixin
    from django.core.files.storage import storages
    from django.core.management import call_command

    if create_database_if_missing(connection):
        print(f"Created database {connection.settings_dict['NAME']}.", file=out)
    call_command("migrate", interactive=False, verbosity=1, stdout=out)
    if isinstance(storages[STATICFILES_STORAGE_ALIAS], ManifestFilesMixin):
        call_command("collectstatic", interactive=False, verbosity=0, stdout=out)
        print("Static files collected.", file=out)
    if connection.vendor == "postgresql" and os.environ.get("APP_DATABASE_URL"):
        call_command("grant_app_role", create=True, stdout=out)


def database_description(connection):
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        version = connection.pg_version
        return (f"PostgreSQL {version // 10000}.{version % 10000} at {settings.get('HOST') or 'localhost'}:"
                f"{settings.get('PORT') or 5432}, database {settings['NAME']} (the suite runs on pytest-django's "
                f"test_{settings['NAME']}* databases, built by the same migrations on this server)")
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}, {settings['NAME']} (the embedded demo store, not for production)"


def main(argv=None):
    args = _arguments(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ivigtrial.settings")
    # This process serves nothing; a throw-away key lets the production settings (DEBUG off) load.
    os.environ.setdefault("SECRET_KEY", "validate-" + secrets.token_urlsafe(40))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, connections

    from validation import iq, oq, performance
    from validation.report import Report, environment

    try:
        requirements = load_catalogue(args.requirements)
    except (OSError, ValueError) as error:
        print(f"The requirements catalogue cannot be read: {error}", file=sys.stderr)
        return 2
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    command = os.environ.get("VALIDATE_COMMAND") or shlex.join(["python", "-m", "validation", *(argv or sys.argv[1:])])
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{settings.DATABASES['default']['NAME']}"

    print("== Installed system" + (" (checked as it is)" if args.no_install else ": migrate, collectstatic, roles"))
    if not args.no_install:
        install(connection)
    print("== Installation qualification")
    checks = iq.run_checks(database_url=database_url, connection=connection)
    (out_dir / "iq.json").write_text(json.dumps([check.as_dict() for check in checks], indent=2) + "\n")
    for check in checks:
        print(f"  {check.status:8} {check.name}: {check.actual}")
    database = database_description(connection)
    connections.close_all()

    print("== Operational qualification: the test suite")
    run = oq.run_suite(out_dir)
    if run.junit.exists():
        junit = oq.parse_junit(run.junit)
    else:
        print(f"  no JUnit file was written (pytest exit status {run.returncode})", file=sys.stderr)
        junit = oq.JUnitResult(tests=())

    report = Report(
        requirements=list(requirements), junit=junit,
        environment=environment(database=database, command=command),
        iq_checks=checks, performance=performance.performance_evidence(),
        suite_seconds=run.seconds, suite_command=shlex.join(str(part) for part in run.command),
        suite_returncode=run.returncode, junit_path=str(run.junit.relative_to(ROOT)
                                                        if run.junit.is_relative_to(ROOT) else run.junit),
    )
    html_path, pdf_path = report.write(out_dir)

    counts, table = junit.counts, report.summary
    print("== Summary")
    print(f"  tests: {counts['total']} ({counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['error']} errors, {counts['skipped']} skipped) in {run.seconds:.0f} s")
    for risk in ("high", "medium", "low", "all"):
        row = table[risk]
        print(f"  {risk:6} requirements: {row['total']:3} ({row['passed']} passed, {row['failed']} failed, "
              f"{row['untested']} untested)")
    for reason in report.decision.reasons:
        print(f"  NOT OK: {reason}")
    print(f"  result: {'OK' if report.decision.ok else 'NOT OK'}")
    for path in (out_dir / "junit.xml", out_dir / "iq.json", html_path, pdf_path):
        print(f"  {path}")
    return report.decision.exit_code


if __name__ == "__main__":
    sys.exit(main())
