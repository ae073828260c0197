import tempfile

import pytest
from django.conf import settings

from tests.accounts.factories import MembershipFactory, SiteFactory, UserFactory


def pytest_configure(config):
    # The suite speaks plain HTTP to the test client and the live server; the
    # production defaults (HTTPS redirect, secure cookies) are tested by
    # tests/test_deploy_checks.py in a subprocess with production settings.
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Files the background jobs keep go to a throw-away directory, never the project's media/.
    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="ivig-test-media-")
    # Tests render templates without running collectstatic first.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def site_a(db):
    return SiteFactory(code="01", name="Site A")


@pytest.fixture
def site_b(db):
    return SiteFactory(code="02", name="Site B")


def _user_with_role(role, site=None, username=None):
    user = UserFactory(username=username or f"{role}-{site.code if site else 'all'}")
    MembershipFactory(user=user, role=role, site=site)
    return user


@pytest.fixture
def make_user(db):
    return _user_with_role


@pytest.fixture
def clinician(site_a):
    return _user_with_role("clinician", site_a)


@pytest.fixture
def clinician_b(site_b):
    return _user_with_role("clinician", site_b)


@pytest.fixture
def investigator(site_a):
    return _user_with_role("investigator", site_a)


@pytest.fixture
def coordinator(db):
    return _user_with_role("coordinator")


@pytest.fixture
def monitor(db):
    return _user_with_role("monitor")


@pytest.fixture
def admin_user(db):
    """The study administrator: staff (Django admin) with the admin role, not a
    superuser (issue 12: roles hold for everyone)."""
    user = _user_with_role("admin")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def superuser(db):
    """A break-glass superuser (``createsuperuser``) without any membership."""
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def client_for(client):
    """Log the test client in as a user (force_login: no password round trip)."""

    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture(scope="session", autouse=True)
def _no_lingering_sessions(django_db_setup, django_db_blocker):
    """At the end, end the connections other threads left open (live server,
    concurrency tests, persistent connections) so PostgreSQL can drop the
    test database."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(scope="module")
def restore_migrated_data(django_db_blocker):
    """For a module of transactional tests: the flush after each of them empties the
    database, the migrations' data (role groups, permissions) included; put them back
    once the module is done, for the tests that run later."""
    yield
    with django_db_blocker.unblock():
        from django.contrib.auth.models import Permission
        from django.db import connection

        contents = getattr(connection, "_test_serialized_contents", None)
        if contents and not Permission.objects.exists():
            connection.creation.deserialize_db_from_string(contents)


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts and ends in the default language (issue 16): a test that activates
    French, or renders outside a request after a French one, never leaks it to the next."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
