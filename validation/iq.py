"""Installation qualification: is the system installed here the one the repository specifies?

Each check compares what the repository pins (``requirements*.txt``, the ``Dockerfile``,
``docker-compose.yml``, the migrations) with what is installed and answers with a
:class:`Check`. Where the project already has the function that knows the answer
(:mod:`oversight.append_only`, :mod:`oversight.db_role`, :mod:`core.checks`), the check
calls it; nothing here restates those rules.

Statuses: ``passed``; ``failed`` (the installation is not the specified one: ``make
validate`` exits non-zero); ``warning`` (it runs, but differs from the deployment's
specification in a way the reviewer must judge, e.g. another PostgreSQL major version than
the pinned image); ``n/a`` (does not apply to this database).
"""

import os
import platform
import re
import secrets
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENT_FILES = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
MINIMUM_PYTHON = (3, 11)

PASSED, FAILED, WARNING, NOT_APPLICABLE = "passed", "failed", "warning", "n/a"


@dataclass(frozen=True)
class Check:
    name: str
    expected: str
    actual: str
    status: str
    detail: str = ""
    #: Machine-readable particulars for iq.json (per package, per check message...).
    items: list = field(default_factory=list, compare=False)

    @property
    def passed(self):
        """False only for a failed check (a warning or n/a does not fail the installation)."""
        return self.status != FAILED

    def as_dict(self):
        return {**asdict(self), "passed": self.passed}


# --- Python -----------------------------------------------------------------------------------

def dockerfile_python(dockerfile=ROOT / "Dockerfile"):
    """The Python version of the production image (``FROM python:3.11-slim`` -> ``"3.11"``)."""
    match = re.search(r"^FROM\s+python:(\d+\.\d+)", Path(dockerfile).read_text(), re.MULTILINE)
    return match.group(1) if match else None


def check_python(version_info=sys.version_info, dockerfile=ROOT / "Dockerfile"):
    image = dockerfile_python(dockerfile)
    actual = ".".join(str(part) for part in version_info[:3])
    expected = f">= {'.'.join(map(str, MINIMUM_PYTHON))}" + (f" (Dockerfile: python:{image})" if image else "")
    if tuple(version_info[:2]) < MINIMUM_PYTHON:
        status, detail = FAILED, "older than the minimum the requirements are verified on"
    elif image and f"{version_info[0]}.{version_info[1]}" != image:
        status, detail = WARNING, f"the production image runs Python {image}"
    else:
        status, detail = PASSED, ""
    return Check("Python version", expected, f"{actual} ({platform.python_implementation()})", status, detail)


# --- Packages ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pin:
    name: str
    version: str  # "" when the line does not pin with ==
    file: str
    line: int
    text: str


def read_pins(path, _seen=None):
    """Every requirement of ``path`` in order, following ``-r`` / ``--requirement`` includes."""
    path = Path(path).resolve()
    seen = set() if _seen is None else _seen
    if path in seen:
        return []
    seen.add(path)
    pins = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        text = raw.split(" #", 1)[0].strip()
        if not text or text.startswith("#"):
            continue
        include = re.match(r"^(?:-r|--requirement)[\s=]+(\S+)$", text)
        if include:
            pins += read_pins(path.parent / include.group(1), seen)
            continue
        if text.startswith("-"):
            continue  # pip options (--index-url, -c ...): nothing to pin
        requirement = text.split(";", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s,]+)$", requirement)
        name = match.group(1) if match else re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        pins.append(Pin(name=name, version=match.group(2) if match else "", file=path.name, line=number,
                        text=text))
    return pins


def installed_version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_packages(path, version_of=installed_version):
    """One check for a requirements file: each of its ``==`` pins (its own lines, not those
    of the files it includes: they get their own check) installed at exactly that version."""
    path = Path(path)
    own = [pin for pin in read_pins(path) if pin.file == path.name]
    items, problems = [], []
    for pin in own:
        installed = version_of(pin.name)
        if not pin.version:
            problem = f"{pin.name}: not pinned with == ({path.name} line {pin.line}: {pin.text!r})"
        elif installed is None:
            problem = f"{pin.name}: pinned {pin.version}, not installed"
        elif installed != pin.version:
            problem = f"{pin.name}: pinned {pin.version}, installed {installed}"
        else:
            problem = ""
        items.append({"package": pin.name, "pinned": pin.version, "installed": installed, "line": pin.line,
                      "passed": not problem})
        if problem:
            problems.append(problem)
    matching = len(own) - len(problems)
    return Check(f"Packages pinned in {path.name}", f"{len(own)} packages at their == version",
                 f"{matching} of {len(own)} at the pinned version", FAILED if problems else PASSED,
                 "; ".join(problems), items)


# --- Database ---------------------------------------------------------------------------------

def compose_postgres_major(compose=ROOT / "docker-compose.yml"):
    """The PostgreSQL major version of the deployment's ``db`` image (``postgres:16`` -> 16)."""
    import yaml

    data = yaml.safe_load(Path(compose).read_text())
    image = str(data.get("services", {}).get("db", {}).get("image", ""))
    match = re.match(r"^postgres:(\d+)", image)
    return (int(match.group(1)), image) if match else (None, image)


def check_database(connection, compose=ROOT / "docker-compose.yml"):
    minimum = ".".join(map(str, connection.features.minimum_database_version or ()))
    if connection.vendor == "postgresql":
        major, image = compose_postgres_major(compose)
        version = connection.pg_version
        actual = f"PostgreSQL {version // 10000}.{version % 10000}"
        expected = f"PostgreSQL {major} (docker-compose.yml: image {image}); Django needs >= {minimum}"
        if connection.get_database_version() < connection.features.minimum_database_version:
            return Check("Database vendor and version", expected, actual, FAILED, "older than Django supports")
        if major is not None and version // 10000 != major:
            return Check("Database vendor and version", expected, actual, WARNING,
                         f"another major version than the deployment's image ({image}): supported by Django, "
                         "but the production database is not this one")
        return Check("Database vendor and version", expected, actual, PASSED)
    if connection.vendor == "sqlite":
        import sqlite3

        return Check("Database vendor and version", "PostgreSQL (docker-compose.yml)",
                     f"SQLite {sqlite3.sqlite_version}", WARNING,
                     "SQLite is the embedded demo and test store, not for production (DELETE on audit rows is "
                     "guarded by the application only, see oversight/append_only.py)")
    return Check("Database vendor and version", "PostgreSQL", connection.vendor, FAILED, "unsupported database")


def check_migrations(connection):
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    applied = len(executor.loader.applied_migrations)
    names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in pending]
    return Check("Migrations applied", "every migration applied, none pending",
                 f"{applied} applied, {len(pending)} pending", FAILED if pending else PASSED,
                 ", ".join(names[:20]) + (" ..." if len(names) > 20 else ""))


# --- check --deploy ---------------------------------------------------------------------------

_COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def deployment_environment(database_url, compose=ROOT / "docker-compose.yml", environ=None):
    """The environment the deployment's app processes get: docker-compose.yml's ``x-app-env``
    with its ``${VAR:-default}`` resolved from ``environ`` (os.environ), the required ones
    (``${VAR:?...}``, the SECRET_KEY) given a throw-away random value when unset, and the
    database replaced by ``database_url`` (compose's names the ``db`` service)."""
    import yaml

    environ = os.environ if environ is None else environ
    app_env = yaml.safe_load(Path(compose).read_text())["x-app-env"]
    generated = []

    def resolve(match):
        name, kind, default = match.groups()
        if environ.get(name):
            return environ[name]
        if kind == "?":
            generated.append(name)
            return secrets.token_urlsafe(50)
        return default or ""

    result = {key: _COMPOSE_VARIABLE.sub(resolve, str(value)) for key, value in app_env.items()}
    result["DATABASE_URL"] = database_url
    return result, generated


_CHECK_LINE = re.compile(r"^(?P<obj>.*?): \((?P<id>[\w.]+\.(?P<level>[CEWID])\d+)\) (?P<msg>.*)$")


def parse_check_output(text):
    """The messages of ``manage.py check`` output: [{id, level, object, message}]."""
    found = []
    for line in text.splitlines():
        match = _CHECK_LINE.match(line.strip())
        if match:
            level = {"C": "critical", "E": "error", "W": "warning", "I": "info", "D": "debug"}[match["level"]]
            found.append({"id": match["id"], "level": level, "object": match["obj"], "message": match["msg"]})
    return found


def check_deploy(database_url, python=sys.executable, compose=ROOT / "docker-compose.yml"):
    """``manage.py check --deploy`` in a subprocess with the deployment's environment."""
    from django.conf import settings

    deployment, generated = deployment_environment(database_url, compose)
    # Nothing of this process's own tuning leaks in (as tests/accounts/test_security.py does).
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SECURE_", "SESSION_", "AXES_", "DEBUG", "DJANGO_", "SECRET_KEY", "ALLOWED_HOSTS",
                                  "CSRF_", "TRUST_"))}
    env.update(deployment)
    command = [python, "manage.py", "check", "--deploy"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    messages = parse_check_output(result.stdout + "\n" + result.stderr)
    errors = [m for m in messages if m["level"] in ("error", "critical")]
    warnings = [m for m in messages if m["level"] == "warning"]
    silenced = list(settings.SILENCED_SYSTEM_CHECKS)
    shown = {key: value for key, value in deployment.items() if key not in ("SECRET_KEY", "DATABASE_URL")}
    detail = [f"environment of docker-compose.yml x-app-env: "
              + ", ".join(f"{key}={value}" for key, value in sorted(shown.items()))
              + (f"; {', '.join(generated)} set to a throw-away random value" if generated else "")]
    detail += [f"{m['id']} ({m['level']}): {m['message']}" for m in errors + warnings]
    detail.append(f"silenced in settings: {', '.join(silenced) if silenced else 'none'}")
    if result.returncode != 0 and not errors:
        errors = [{"id": "exit", "level": "error", "object": "",
                   "message": (result.stderr.strip().splitlines() or ["exit status %d" % result.returncode])[-1]}]
        detail.append(f"manage.py check exited {result.returncode}: {errors[0]['message']}")
    status = FAILED if errors else WARNING if warnings else PASSED
    return Check("manage.py check --deploy (deployment settings)", "no errors, no warnings",
                 f"{len(errors)} errors, {len(warnings)} warnings, {len(silenced)} silenced", status,
                 "; ".join(detail), messages)


# --- Append-only protections and the database roles ------------------------------------------

def check_append_only(connection):
    from django.apps import apps

    from oversight import append_only

    if connection.vendor not in ("postgresql", "sqlite"):
        return Check("Append-only audit tables", "the trigger on every audit table", connection.vendor, FAILED,
                     "no trigger on this database")
    existing = set(connection.introspection.table_names())
    tables = [table for table in append_only.audit_tables(apps) if table in existing]
    absent = sorted(set(append_only.audit_tables(apps)) - existing)
    missing = sorted(set(tables) - append_only.protected_tables(connection))
    refused = "UPDATE and DELETE" if connection.vendor == "postgresql" else "UPDATE (SQLite: DELETE guarded by the application)"
    problems = ([f"no trigger on {', '.join(missing)}"] if missing else []) + (
        [f"tables not created: {', '.join(absent)}"] if absent else [])
    return Check("Append-only audit tables", f"trigger {append_only.PG_TRIGGER!r} refusing {refused} on every "
                 "audit table (oversight/append_only.py)",
                 f"{len(tables) - len(missing)} of {len(tables) + len(absent)} audit tables protected",
                 FAILED if problems else PASSED, "; ".join(problems), sorted(tables))


def application_role(environ=None):
    """The web processes' role: the user of ``APP_DATABASE_URL`` (as ``grant_app_role`` reads it)."""
    import environ as django_environ

    url = (os.environ if environ is None else environ).get("APP_DATABASE_URL")
    return django_environ.Env.db_url_config(url).get("USER") if url else None


def check_database_role(connection, role=None):
    """The application's role owns nothing and holds row privileges only: :func:`oversight.db_role.problems`
    finds nothing, and it may not UPDATE, DELETE or TRUNCATE an append-only table, nor TRUNCATE any."""
    from oversight import db_role

    name = "Application database role"
    expected = ("a role that is no superuser and owns nothing (oversight/db_role.py); "
                "SELECT, INSERT only on the append-only tables; no TRUNCATE")
    if connection.vendor != "postgresql":
        return Check(name, expected, connection.vendor, NOT_APPLICABLE, "PostgreSQL deployments only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        current, superuser = cursor.fetchone()
    ran_as = f"checked as {current}" + (" (superuser)" if superuser else "")
    if not role:
        return Check(name, expected, f"no application role named; {ran_as}", FAILED,
                     "set APP_DATABASE_URL to the web processes' database URL (compose: ivigtrial_app): the app "
                     "would otherwise run as the owner, which can disable the audit triggers")
    if role == current:
        return Check(name, expected, f"{role} is the role running the migrations", FAILED,
                     "the application role must not be the owner")
    found = db_role.problems(role, connection)
    if "does not exist" in found:
        return Check(name, expected, f"{role}: does not exist; {ran_as}", FAILED,
                     "run manage.py grant_app_role --create as the owner after migrate")
    plan = db_role.plan(connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t, has_table_privilege(%s, quote_ident(t), 'UPDATE'), has_table_privilege(%s, quote_ident(t), "
            "'DELETE'), has_table_privilege(%s, quote_ident(t), 'INSERT') FROM unnest(%s::text[]) AS t",
            [role, role, role, plan.append_only])
        append_rows = cursor.fetchall()
        cursor.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE has_table_privilege(%s, quote_ident(t), "
                       "'TRUNCATE')", [plan.read_write + plan.append_only + plan.read_only, role])
        truncatable = [row[0] for row in cursor.fetchall()]
    writable = [table for table, update, delete, _insert in append_rows if update or delete]
    no_insert = [table for table, _update, _delete, insert in append_rows if not insert]
    found += [f"may UPDATE or DELETE {t}" for t in writable] + [f"may TRUNCATE {t}" for t in truncatable]
    found += [f"may not INSERT into {t} (grant_app_role not run after the last migrate?)" for t in no_insert]
    return Check(name, expected,
                 f"{role}: {len(append_rows) - len(writable)} of {len(append_rows)} append-only tables "
                 f"read/insert only, {len(truncatable)} truncatable; {ran_as}",
                 FAILED if found else PASSED, "; ".join(found))


# --- Static files -----------------------------------------------------------------------------

def check_static_files():
    from django.conf import STATICFILES_STORAGE_ALIAS, settings
    from django.contrib.staticfiles.storage import ManifestFilesMixin
    from django.core.files.storage import storages

    from core.checks import static_manifest_errors

    name, expected = "Static files collected", "the collectstatic manifest lists every static file (Dockerfile)"
    if not isinstance(storages[STATICFILES_STORAGE_ALIAS], ManifestFilesMixin):
        return Check(name, expected, "no manifest storage (DEBUG on)", NOT_APPLICABLE,
                     "with DEBUG on the static files are served without collectstatic")
    errors = static_manifest_errors()
    return Check(name, expected, f"{settings.STATIC_ROOT}: " + ("stale or missing" if errors else "up to date"),
                 FAILED if errors else PASSED, "; ".join(f"{e.id}: {e.msg}" for e in errors))


# --- All of them ------------------------------------------------------------------------------

def run_checks(*, database_url, connection=None, requirement_files=REQUIREMENT_FILES, app_role=None):
    """Every IQ check, in the order of the report."""
    from django.db import connection as default_connection

    connection = connection or default_connection
    return [
        check_python(),
        *[check_packages(path) for path in requirement_files],
        check_database(connection),
        check_migrations(connection),
        check_append_only(connection),
        check_database_role(connection, app_role if app_role is not None else application_role()),
        check_static_files(),
        check_deploy(database_url),
    ]
