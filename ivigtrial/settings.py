"""Settings for the IVIG myositis trial EDC.

Everything that differs between a laptop and a production server comes from
the environment (twelve-factor, django-environ):

- ``DEBUG``: off unless set (``make run`` sets it).
- ``SECRET_KEY``: required when DEBUG is off; start-up fails with a clear
  message otherwise.
- ``DATABASE_URL``: SQLite file ``db.sqlite3`` by default; for example
  ``postgres://postgres@127.0.0.1:5432/ivigtrial`` switches to PostgreSQL.
- ``CONN_MAX_AGE``: seconds a database connection is kept for the next request (60 unless
  DEBUG, 0 with DEBUG); ``?conn_max_age=`` in ``DATABASE_URL`` wins. Health-checked.
- ``ALLOWED_HOSTS``: comma-separated; defaults to localhost when DEBUG is on.
- ``TIME_ZONE``: the study's default zone for display (times are stored in
  UTC); a site's own zone wins for users of that site.
- ``SESSION_IDLE_MINUTES`` (30): sign-out after this much inactivity;
  ``SESSION_MAX_HOURS`` (12): the longest a session lives at all.
- ``PASSWORD_MAX_AGE_DAYS`` (0: off): a password older than this must be
  changed before any page (the API answers 403 ``password_expired``).
- ``AXES_FAILURE_LIMIT`` (5) failed logins lock an account from one client
  address; ``AXES_COOLOFF_MINUTES`` (0: until an admin unlocks it);
  ``LOCKOUT_ACCOUNT_FAILURE_LIMIT`` (20) failures from any addresses within
  ``LOCKOUT_ACCOUNT_COOLOFF_MINUTES`` (30) lock it from everywhere for that
  long; ``AXES_ENABLED``. ``LOGIN_FAILURE_AUDIT_WINDOW_MINUTES`` (15) and
  ``LOGIN_FAILURE_AUDIT_ROWS`` (5): anonymous failed logins beyond that many
  per address and window are counted, not written one by one.
- ``EMAIL_BACKEND``, ``EMAIL_HOST``, ``EMAIL_PORT``, ``EMAIL_HOST_USER``,
  ``EMAIL_HOST_PASSWORD``, ``EMAIL_USE_TLS``, ``DEFAULT_FROM_EMAIL``: the
  lockout notices to the administrators and the notifications (SMTP; the console
  with DEBUG).
- ``EMAIL_URL``: the mail server as one URL (django-environ), e.g.
  ``smtp://user:password@mail.example.org:587/?tls=True`` (STARTTLS; ``?ssl=True``
  for implicit TLS on 465; ``consolemail://`` for the console); when set it wins over the ``EMAIL_*``
  variables above.
- ``SAE_NOTIFY_EMAILS``: comma-separated pharmacovigilance addresses that receive
  every serious adverse event notice and its escalations (optional).
- ``SITE_URL``: the address the links in e-mails start with (default
  ``http://127.0.0.1:8000``, ``make run``'s server).
- ``JOB_RESULT_RETENTION_DAYS`` (14): how long the results of background jobs that
  succeeded are kept (failed ones stay for the admin); ``JOB_LOST_AFTER_MINUTES`` (60):
  a job running longer lost its worker and is retried.
- ``CASEBOOK_PDF_RETENTION_HOURS`` (24): how long PDF casebooks and close-out archives
  made by background jobs are kept before their files are deleted.
- ``EXPORT_FILE_RETENTION_HOURS`` (24): how long the file of an export run in the
  background is kept for its owner to download (then deleted; the row stays).
- ``SECURE_SSL_REDIRECT``, ``SECURE_COOKIES``, ``SECURE_HSTS_SECONDS``: on
  (HTTPS only, HSTS one year) unless DEBUG; ``SECURE_PROXY_SSL_HEADER=1``
  trusts ``X-Forwarded-Proto`` from a TLS-terminating proxy.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(a long random string) or run with DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on"

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "axes",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "simple_history",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "core",
    "accounts",
    "coding",
    "patients",
    "visits",
    "safety",
    "medications",
    "review",
    "reporting",
    "exchange",
    "oversight",
    "demo",
    "django_tasks",
    "django_tasks_db",
    "jobs",
    "notifications",
    "editchecks",  # issue 17: automatic edit checks (on top: reads the capture apps, writes through review)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Django's LocaleMiddleware, reading the user's stored choice from the session first.
    "accounts.middleware.UserLanguageMiddleware",
    "accounts.middleware.SiteTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.IdleTimeoutMiddleware",
    # After the idle sign-out: a pending two-factor code or an expired password holds every page.
    "accounts.middleware.AccountSecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ivigtrial.urls"
WSGI_APPLICATION = "ivigtrial.wsgi.application"

# Pages are rendered by templates, never HTML written in Python (issue 13). No "loaders" option:
# Django (>= 4.1) then wraps the filesystem and app loaders in the cached loader, with DEBUG on or
# off, so each template is compiled once per process. The forms of the pages that show many fields
# render through Django's Jinja2 form renderer (core/renderers.py, its own engine: no second
# TEMPLATES entry); bench/NOTES.md has the measurements.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.roles",
                "accounts.context_processors.locked_accounts",
                "safety.context_processors.sae_banner",
                "core.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # make run: the server, the background worker and the scheduler share one SQLite file.
    # WAL lets readers go on while one writes; a writer takes the lock when its transaction
    # starts (IMMEDIATE: no deadlock upgrading a read lock) and waits up to 20 s for it.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    })
# Persistent connections (bench/NOTES.md): opening a PostgreSQL connection costs several ms,
# more than a simple page. CONN_MAX_AGE seconds (default 60 with DEBUG off, 0 with DEBUG, as the
# development server opens a thread per request); a conn_max_age in DATABASE_URL wins.
# Health checks: a connection the database dropped is replaced, not an error on the next request.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0 if DEBUG else 60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.RoleBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # Also times every password change (PasswordAge), for PASSWORD_MAX_AGE_DAYS.
    {"NAME": "accounts.passwords.NotTheCurrentPasswordValidator"},
]
# Longest a password lives, in days; 0: no limit. Past it, every page sends the user to
# the password change page (accounts.middleware.AccountSecurityMiddleware).
PASSWORD_MAX_AGE_DAYS = env.int("PASSWORD_MAX_AGE_DAYS", default=0)

# Two-factor authentication (django-otp, TOTP): required per role by an admin
# (accounts.RolePolicy); anybody may set it up. See accounts/two_factor.py.
OTP_TOTP_ISSUER = "IVIG trial EDC"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no admin page shows a user's secret key

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Languages (issue 16): every screen, message, e-mail and PDF casebook in English (the
# source) or French. A user's choice (accounts.Profile.language, copied into the session at
# login and by the navbar's switch) wins; else the language cookie, else the browser's
# Accept-Language (accounts.middleware.UserLanguageMiddleware). The catalogues are in
# locale/ (make messages); exports, the API's values and the audit trail stay language-neutral.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfigured(f"LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}, not {LANGUAGE_CODE!r}.")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Paris")
# The country (ISO 3166-1 alpha-3) a new site gets unless the admin says otherwise; the
# sites that existed before ``Site.country`` got it too (SDTM DM COUNTRY is required).
STUDY_DEFAULT_COUNTRY = env.str("STUDY_DEFAULT_COUNTRY", default="FRA")
from accounts.countries import ALPHA3 as _ALPHA3  # noqa: E402 (a plain set, no Django)

if STUDY_DEFAULT_COUNTRY not in _ALPHA3:
    raise ImproperlyConfigured(f"STUDY_DEFAULT_COUNTRY must be an ISO 3166-1 alpha-3 code, not {STUDY_DEFAULT_COUNTRY!r}.")
USE_I18N = True
USE_TZ = True
# Clinical values never show a thousands separator ("1 234,5" would not parse back).
USE_THOUSAND_SEPARATOR = False
# Formats follow the language (ivigtrial/formats/<lang>/formats.py wins over these
# settings): ISO 8601 in English (dates Y-m-d, times Y-m-d H:i); dd/mm/yyyy and decimal
# commas in French.
FORMAT_MODULE_PATH = ["ivigtrial.formats"]
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
DATE_INPUT_FORMATS = ["%Y-%m-%d"]

STATIC_URL = "/static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))  # where collectstatic writes
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files the background jobs write (finished exports, PDF casebooks): MEDIA_ROOT on the
# file system by default (a volume shared by web and worker in docker-compose.yml);
# several machines share them through django-storages and S3 (README, "Deployment").
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "/media/"  # never served as such: downloads go through views that check permissions
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Sessions, cookies, transport security (21 CFR 11.10(d), 11.300) ---------------
# Sessions live in the database (shared by every app server). The idle limit is
# enforced by accounts.middleware.IdleTimeoutMiddleware, which signs the user out
# with a message; the cookie age is the absolute limit.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_COOKIE_AGE = env.int("SESSION_MAX_HOURS", default=12) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# Under /api/ a CSRF failure is the API's JSON error, elsewhere Django's page.
CSRF_FAILURE_VIEW = "api.exceptions.csrf_failure"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Access events record X-Forwarded-For's last address instead of REMOTE_ADDR: only
# behind a proxy that sets it and is the sole way in (docker-compose's nginx).
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content Security Policy (core.middleware): scripts and styles from this
# server only; no inline script anywhere (templates load static .js files).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)

# --- Login lockout (django-axes; state in the database, shared by every server) -----
# Two limits (accounts/lockout.py), so that an anonymous script cannot lock an account
# for good, nor a colleague behind the same hospital NAT address lock out a whole site:
# - one account from one client address: AXES_FAILURE_LIMIT failures, until an admin
#   unlocks it (AXES_COOLOFF_MINUTES=0) or for that many minutes after the last failure;
# - one account from every address: LOCKOUT_ACCOUNT_FAILURE_LIMIT failures within
#   LOCKOUT_ACCOUNT_COOLOFF_MINUTES, for that many minutes after the last failure.
# The lock's start ends the user's sessions and API tokens and e-mails the admin-role users.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
_cooloff = env.int("AXES_COOLOFF_MINUTES", default=0)
AXES_COOLOFF_TIME = None if _cooloff <= 0 else _cooloff / 60  # hours; None: until unlocked
LOCKOUT_ACCOUNT_FAILURE_LIMIT = env.int("LOCKOUT_ACCOUNT_FAILURE_LIMIT", default=20)
LOCKOUT_ACCOUNT_COOLOFF_MINUTES = env.int("LOCKOUT_ACCOUNT_COOLOFF_MINUTES", default=30)
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# What a successful login clears: that address's failures for the account.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client address of the access events (TRUST_X_FORWARDED_FOR behind the proxy).
AXES_CLIENT_IP_CALLABLE = "oversight.models.client_ip"
# A refused attempt on a locked account is not counted: it does not extend the lock.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_VERBOSE = False
# Failed attempts keep no form data (accounts.lockout stores none); should axes log any,
# every field that can carry a secret is masked: the password-change form's old and new
# passwords and the two-factor code, not only "password".
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "old_password", "new_password1",
                             "new_password2", "password1", "password2", "code"]
# Anonymous failed logins in the audit trail: the first LOGIN_FAILURE_AUDIT_ROWS per client
# address and window of LOGIN_FAILURE_AUDIT_WINDOW_MINUTES are access events one by one, the
# rest one "failed logins counted" event per window (0 minutes: every failure is an event).
LOGIN_FAILURE_AUDIT_WINDOW_MINUTES = env.int("LOGIN_FAILURE_AUDIT_WINDOW_MINUTES", default=15)
LOGIN_FAILURE_AUDIT_ROWS = env.int("LOGIN_FAILURE_AUDIT_ROWS", default=5)

# Mail (the lockout notice to the administrators): SMTP from the environment, or the
# console with DEBUG (no mail server on a laptop).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
                        if DEBUG else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ivig-edc@localhost")
if env.str("EMAIL_URL", default=""):  # one URL for the mail server: it wins over the EMAIL_* above
    _email = env.email_url("EMAIL_URL")
    _options = _email.pop("OPTIONS", {})
    for _key in ("TLS", "SSL"):  # "?tls=True" (STARTTLS) / "?ssl=True", as well as smtp+tls:// / smtp+ssl://
        if _key in _options:
            _email[f"EMAIL_USE_{_key}"] = str(_options.pop(_key)).lower() in ("1", "true", "yes", "on")
    globals().update(_email)

# Notifications (notifications/): pharmacovigilance addresses for serious adverse events,
# and the start of the links in e-mails.
SAE_NOTIFY_EMAILS = env.list("SAE_NOTIFY_EMAILS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Background jobs (jobs/): Django's Tasks API, database backend ---------------------
# Jobs are rows in the same database (SQLite in ``make run``, PostgreSQL in production):
# ``manage.py db_worker`` runs them (start as many as needed, on any number of machines),
# ``manage.py run_schedules`` enqueues the periodic ones (each app's schedules.py).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default", "exports"],
    }
}
# Successful jobs' results are pruned after this many days (failed ones stay).
JOB_RESULT_RETENTION_DAYS = env.int("JOB_RESULT_RETENTION_DAYS", default=14)
# A job still RUNNING this long after it started lost its worker (killed, machine gone): it
# is marked failed and retried while attempts remain (jobs.tasks.recover_lost_jobs).
JOB_LOST_AFTER_MINUTES = env.int("JOB_LOST_AFTER_MINUTES", default=60)
# PDF casebooks and close-out archives are deleted from the storage this many hours after
# they are made (the JobFile row stays, with the file's SHA-256).
CASEBOOK_PDF_RETENTION_HOURS = env.int("CASEBOOK_PDF_RETENTION_HOURS", default=24)
# The files of exports run in the background are deleted after this many hours.
EXPORT_FILE_RETENTION_HOURS = env.int("EXPORT_FILE_RETENTION_HOURS", default=24)

# Simple-history: keep the reason for change on every history row.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# History is append-only: "revert" in the admin would only write a new version with no reason.
SIMPLE_HISTORY_REVERT_DISABLED = True

# Demo logins created by ``seed_demo``.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="ivig-demo")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Logins, failures and lockouts are access events in the audit trail already.
    "loggers": {"axes": {"level": "WARNING"},
                # WeasyPrint logs each step and page of every PDF casebook at INFO.
                "weasyprint.progress": {"level": "WARNING"}},
}

# --- REST API (api/): Django REST framework, OpenAPI 3 by drf-spectacular -------
INSTALLED_APPS += [
    "rest_framework",
    "django_filters",  # the list filters (<app>/filters.py): pages, API and selectors
    "knox",  # API tokens stored hashed (SHA-512), shown once
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

REST_FRAMEWORK = {
    # Token first: an anonymous request gets 401 with WWW-Authenticate: Token.
    # Session writes are CSRF-checked by SessionAuthentication.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],  # a too-deep body is a 400, not a 500
    # Filters: each viewset's filterset_class (the pages' FilterSets), through api.filters.FilterBackend.
    "DEFAULT_FILTER_BACKENDS": ["api.filters.FilterBackend", "api.filters.StableOrderingFilter"],
    # Pagination: api.views.Pagination (50 a page, ?page_size= up to 200) on every list.
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# API tokens (django-rest-knox): the database keeps a SHA-512 digest and the first
# 15 characters (to find the row), never the token; the owner sees it once, at
# creation. Clients send ``Authorization: Token <token>``. A token expires after
# API_TOKEN_TTL_DAYS (default 90; 0: never) and is revoked by its owner
# (/api/token/) or by an administrator (Django admin).
_token_ttl_days = env.int("API_TOKEN_TTL_DAYS", default=90)
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_TTL": timedelta(days=_token_ttl_days) if _token_ttl_days > 0 else None,
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "IVIG myositis trial EDC API",
    "DESCRIPTION": (
        "Read and enter the trial's clinical data with the same rules, permissions, site scope "
        "and audit trail as the web pages.\n\n"
        "**Authentication**: `Authorization: Token <key>` (create yours at `/api/token/`) or the "
        "browser session (writes then need the CSRF token).\n\n"
        "**Errors** all have one shape: `{\"detail\", \"code\", \"errors\": {field: [{\"message\", "
        "\"code\"}]}}`; a 400's field errors carry the same messages and codes as the forms.\n\n"
        "**Updates** (PUT, PATCH, void, withdraw) send the version they started from (`version` "
        "in the body or `If-Match: \"<version>\"`, the ETag of the record): none is a 428, a stale "
        "one a 409 (body) or 412 (If-Match) and nothing is written. PUT and PATCH also need a "
        "reason for change (`change_reason` or `X-Change-Reason`), kept in the audit trail.\n\n"
        "**Nothing is deleted**: there is no DELETE (405); entries made in error are voided "
        "with a reason.\n\n"
        "**JSON types are strict**: decimals are strings (`\"70.5\"`) as in the responses, or JSON "
        "numbers (`70.5`, read through their shortest form: never binary rounding; NaN and booleans "
        "refused); integers, booleans and record ids are JSON numbers and booleans, never strings.\n\n"
        "**Unknown input is refused**: a key the endpoint does not document is a 400 naming it "
        "(`Unknown field.`, code `unknown_field`), at every level (`assessment.x`, `infusions.0.x`); "
        "a read-only field (ids, derived values such as `mmt_total`) is a 400 too (code `read_only`), "
        "except that an update may send one back unchanged (a GET body returned as it was).\n\n"
        "**Sites** are named by their code: `?site=01` on lists; `\"site\": \"01\"` when enrolling "
        "(a JSON integer there is the site's id)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PatientStatusEnum": "patients.models.PatientStatus",
        "MalignancyStatusEnum": "patients.models.MalignancyStatus",
        "MalignancyCertaintyEnum": "patients.models.MalignancyCertainty",
        "DataQueryStatusEnum": "review.models.QueryStatus",
        "AdverseEventOutcomeEnum": "safety.models.Outcome",
        "DeviationKindEnum": "visits.models.DeviationKind",
        "InfusionDayEnum": "visits.models.InfusionDay",
        "DeviationDayEnum": [(0, "Whole cycle"), (1, "Day 1"), (2, "Day 2")],
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "api.schema.refuse_unknown_properties"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
