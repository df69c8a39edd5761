"""Settings, read from the environment with django-environ.

With nothing set the app runs on embedded defaults: SQLite and a filesystem
Celery broker under ``var/``, email written to files, and the built-in Seam
simulator on loopback. ``DATABASE_URL``, ``REDIS_URL`` and ``SEAM_API_KEY``
switch to PostgreSQL, Redis and the real Seam.
"""

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
import xstatic.pkg.bootstrap
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

# Lets admin.ModelAdmin[Model] and friends be subscripted at run time, as the type stubs say.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
# The folders under it are made when Django starts (config.apps), not when settings are read.

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
# Nothing set means a local development run on the embedded defaults. A deployment brings
# its own secret key, and with it DEBUG is off unless it says otherwise.
DEBUG = env.bool("DJANGO_DEBUG", default=not SECRET_KEY)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (50+ random characters) for production, or leave "
            "DJANGO_DEBUG unset (or 1) for local development."
        )
    SECRET_KEY = "django-insecure-development-key-do-not-use-in-production"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.ProjectConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "axes",
    "csp",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "properties",
    "locks",
    "codes",
    "feeds",
    "api",
    "guests",
    "front",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves several people, a worker and beat at once. WAL lets reads go
    # on beside the one writer; the busy timeout makes a writer wait for the lock rather than
    # fail; IMMEDIATE takes the write lock when a transaction begins, because a transaction that
    # read first and then must upgrade to write fails at once ("database is locked"), timeout or not.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed logins (the staff pages' and the admin's) per username and client
# address together, and locks that pair out after LOGIN_FAILURE_LIMIT failures for
# LOGIN_LOCKOUT_MINUTES: guessing one person's password gets nowhere, and a stranger typing a
# colleague's name cannot lock the colleague out everywhere. The address is REMOTE_ADDR: behind
# a reverse proxy that is the proxy's, so the lockout becomes per username.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Staff sessions end after a working day (STAFF_SESSION_HOURS): a PIN-revealing page left
# open on a shared front-desk computer does not stay signed in overnight.
SESSION_COOKIE_AGE = int(env.float("STAFF_SESSION_HOURS", default=10) * 3600)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The guests' languages: their code email and guest page (staff pages stay English, through
# the same framework). Each has its catalogue under locale/, compiled .mo files included.
LANGUAGES = [
    ("en", "English"),
    ("pt", "Português"),
    ("es", "Español"),
    ("fr", "Français"),
    ("de", "Deutsch"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
# Bootstrap comes from the XStatic package: no CDN, the machines may have no internet.
STATICFILES_DIRS = [BASE_DIR / "static", ("bootstrap", xstatic.pkg.bootstrap.BASE_DIR)]
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

# Email: files under var/mail unless EMAIL_URL (smtp://, consolemail://, ...) says otherwise.
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# Where people reach this app, for the links in emails (the guest page, the page that fixes an
# alert): emails are sent by workers, with no request to take the host from.
APP_BASE_URL = env.str("APP_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Front desk <frontdesk@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Redis (when REDIS_URL is set) backs Celery and the cache; otherwise a filesystem broker.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object]
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Long waits live in the database (next_check_at), so no task ever waits this long;
    # the timeout only bounds how soon a message from a dead worker is redelivered.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    _broker_dir = VAR_DIR / "celery"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# No task holds a worker for ever (the prefork pool kills it past this); the create task has a
# shorter limit of its own, inside its claim's lease (codes.tasks).
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Behind config.queueing.AHEAD_PRIORITY (0) on Redis, which hands out 0 first.
CELERY_TASK_DEFAULT_PRIORITY = 3
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-access-codes": {
        "task": "codes.tasks.access_codes_sweep_task",
        "schedule": env.float("CODES_SWEEP_INTERVAL_SECONDS", default=10.0),
    },
    "sync-locks": {
        "task": "locks.tasks.locks_sync_task",
        "schedule": env.float("SEAM_SYNC_INTERVAL_SECONDS", default=900.0),
    },
    "sync-feeds": {
        "task": "feeds.tasks.feeds_sync_task",
        "schedule": env.float("FEEDS_SYNC_INTERVAL_SECONDS", default=900.0),
    },
    "send-guest-emails": {
        "task": "codes.tasks.guest_emails_send_due_task",
        "schedule": env.float("GUEST_EMAIL_INTERVAL_SECONDS", default=300.0),
    },
}

# Seam: the real API when SEAM_API_KEY is set, else the built-in simulator on loopback.
SEAM_API_KEY = env.str("SEAM_API_KEY", default="")
SEAM_SIMULATOR_PORT = env.int("SEAM_SIMULATOR_PORT", default=8765)
SEAM_USES_SIMULATOR = not SEAM_API_KEY
if SEAM_USES_SIMULATOR:
    SEAM_API_KEY = "seam_simulator_demo_key"
    SEAM_ENDPOINT = env.str("SEAM_ENDPOINT", default=f"http://127.0.0.1:{SEAM_SIMULATOR_PORT}")
else:
    SEAM_ENDPOINT = env.str("SEAM_ENDPOINT", default="https://connect.getseam.com")
SEAM_TIMEOUT_SECONDS = env.float("SEAM_TIMEOUT_SECONDS", default=15.0)
SEAM_WEBHOOK_SECRET = env.str("SEAM_WEBHOOK_SECRET", default="")
if SEAM_USES_SIMULATOR and not SEAM_WEBHOOK_SECRET:
    # The simulator signs its webhooks like Svix; a fixed secret is fine for a loopback demo.
    SEAM_WEBHOOK_SECRET = "whsec_b3JhY29kZS1zaW11bGF0b3Itd2ViaG9vay1zZWNyZXQ="  # noqa: S105

# Seam's per-door create limit: SEAM_CREATES_PER_WINDOW creates per SEAM_CREATE_WINDOW_SECONDS,
# kept with SEAM_CREATE_MARGIN_SECONDS to spare (clock and network delay). Benchmarks scale the
# window down together with the simulator's; production keeps Seam's 10 a minute. The sweep
# queues at most CODES_SWEEP_LIMIT codes a beat, oldest due first.
SEAM_CREATES_PER_WINDOW = env.int("SEAM_CREATES_PER_WINDOW", default=10)
SEAM_CREATE_WINDOW_SECONDS = env.float("SEAM_CREATE_WINDOW_SECONDS", default=60.0)
SEAM_CREATE_MARGIN_SECONDS = env.float("SEAM_CREATE_MARGIN_SECONDS", default=1.0)
CODES_SWEEP_LIMIT = env.int("CODES_SWEEP_LIMIT", default=2000)

# Stays: the longest stay codes are made for (a year), and how far ahead an arrival may be
# booked (two years): a mistyped year is refused rather than planned into a code that holds a
# place on the lock for years.
RESERVATION_MAX_NIGHTS = env.int("RESERVATION_MAX_NIGHTS", default=365)
RESERVATION_MAX_DAYS_AHEAD = env.int("RESERVATION_MAX_DAYS_AHEAD", default=730)

# Following codes: first status check after creation, and when to escalate a code not set.
CODES_FIRST_CHECK_SECONDS = env.float("CODES_FIRST_CHECK_SECONDS", default=10.0)
CODES_WARN_HOURS = env.float("CODES_WARN_HOURS", default=24.0)
CODES_URGENT_HOURS = env.float("CODES_URGENT_HOURS", default=2.0)

# Production hardening: `manage.py check --deploy` passes with no warnings when DEBUG is off.
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp): scripts, styles and everything else from this site only,
# no inline script or style anywhere (htmx's own indicator styles are turned off in base.html),
# never framed. The staff pages and the admin are checked against it in a browser test.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# The REST API (api/): a token per user for a PMS (`manage.py drf_create_token <username>`), or
# the staff session for trying it in /api/docs/ (CSRF applies). JSON only: DRF's browsable pages
# carry inline script the policy above forbids. Each user's calls are throttled to
# API_THROTTLE_RATE, counted in the cache above (Redis, or files under var/ without it).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.access.StaffOnASite"],
    "DEFAULT_THROTTLE_CLASSES": ["api.access.UserThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
}
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/minute")
# The OpenAPI schema (/api/schema/) and Swagger UI (/api/docs/), for signed-in users only, its
# scripts and styles served from this site (drf-spectacular-sidecar: no CDN).
SPECTACULAR_SETTINGS = {
    "TITLE": "Oracode codes API",
    "DESCRIPTION": (
        "Units, their code windows, reservations and their dormakaba Oracode codes, and calendar feeds, "
        "for the sites the token's user is staff of. Send `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"urllib3": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# Calendar feeds (feeds/): how often beat syncs every feed, the fetch's timeouts and size cap.
# A feed URL is typed by staff, so in production it may only reach public addresses; the
# embedded defaults (DEBUG) and the tests serve feeds from 127.0.0.1 and allow that.
FEEDS_CONNECT_TIMEOUT_SECONDS = env.float("FEEDS_CONNECT_TIMEOUT_SECONDS", default=5.0)
FEEDS_READ_TIMEOUT_SECONDS = env.float("FEEDS_READ_TIMEOUT_SECONDS", default=20.0)
FEEDS_MAX_BYTES = env.int("FEEDS_MAX_BYTES", default=5_000_000)
FEEDS_ALLOW_PRIVATE_ADDRESSES = env.bool("FEEDS_ALLOW_PRIVATE_ADDRESSES", default=DEBUG)
# A feed failing this long (its every sync since) alerts the site's staff, once; it resolves
# itself, and says so, when the feed syncs again. A channel's blip of a sync or two is not news.
FEEDS_ALERT_AFTER_MINUTES = env.float("FEEDS_ALERT_AFTER_MINUTES", default=60.0)
