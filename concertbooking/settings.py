"""Settings for concertbooking; the only module that reads the environment (see README)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django_guid.integrations import CeleryIntegration

from concertbooking.converters import IdConverter

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# An empty variable (`NAME=` in .env or the shell) means "use the default", as a missing one does.
env.ENVIRON = {name: value for name, value in os.environ.items() if value != ""}

DEBUG = env.bool("DEBUG", default=False)
# Only a local DEBUG run may fall back to a throwaway key; production must bring its own.
SECRET_KEY = env("SECRET_KEY", default=None)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see README).")
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"

# Tests add "testserver" themselves (Django's test environment); a site never serves it.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Proxies in front of the app that append to X-Forwarded-For (nginx: 1); 0 trusts no header and
# takes the socket's address (concertbooking.http.client_ip).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Request ids on log lines and Celery tasks (concertbooking.logs).
    "django_guid",
    "concertbooking",
    "accounts",
    "booking",
    "queueing",
    "payments",
]

MIDDLEWARE = [
    # First, so every line logged for a request carries its id.
    "concertbooking.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Counts and times requests by view for /metrics (static files, answered above, are not).
    "concertbooking.metrics.RequestMetricsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Checks views marked queueing.gate.queue_gated, once the URL has resolved and the
    # session's user is known.
    "queueing.middleware.QueueGateMiddleware",
]

ROOT_URLCONF = "concertbooking.urls"
WSGI_APPLICATION = "concertbooking.wsgi.application"

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

# --- Database -------------------------------------------------------------------------------
# No DATABASE_URL: a local SQLite file, so `make run` needs no server.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections: a request reuses its worker's connection instead of opening one.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The same backend, with a health check that polls the socket instead of a round trip.
    DATABASES["default"]["ENGINE"] = "concertbooking.postgresql"
else:
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
# PgBouncer in transaction mode: each transaction may run on another server connection, so
# nothing may outlive one (README, Scaling out).
DATABASE_PGBOUNCER = env.bool("DATABASE_PGBOUNCER", default=False)
if DATABASE_PGBOUNCER and DATABASES["default"]["ENGINE"] == "concertbooking.postgresql":
    # .iterator()'s named cursors are held open across transactions outside atomic().
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    # Django's default for psycopg 3 already; pinned so an OPTIONS change cannot undo it.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
TEST_DATABASE_NAME = env("TEST_DATABASE_NAME", default=None)
if TEST_DATABASE_NAME:
    # Lets two test runs share one PostgreSQL server without dropping each other's database.
    DATABASES["default"]["TEST"] = {"NAME": TEST_DATABASE_NAME}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, queue and broker ---------------------------------------------------------
# No REDIS_URL: every client talks to one in-process fakeredis server (see concertbooking.redis).
REDIS_URL = env("REDIS_URL", default="")
QUEUE_REDIS_URL = env("QUEUE_REDIS_URL", default=REDIS_URL)
# A queue Redis node that timed out (it hangs) is refused at once for this long, then tried again;
# 0 tries it on every call. As long as the 503's Retry-After.
QUEUE_NODE_HOLD_SECONDS = env.float("QUEUE_NODE_HOLD_SECONDS", default=5.0)
CACHE_TTL_SECONDS = env.int("CACHE_TTL_SECONDS", default=30)
CACHE_KEY_PREFIX = env("CACHE_KEY_PREFIX", default="cb")


def _fake_connection():
    from concertbooking.redis import FakeConnection

    return FakeConnection


if REDIS_URL:
    _cache_options = {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1}
else:
    _cache_options = {
        "CONNECTION_POOL_KWARGS": {"connection_class": _fake_connection()},
    }
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL or "redis://in-process/0",
        "KEY_PREFIX": CACHE_KEY_PREFIX,
        "TIMEOUT": CACHE_TTL_SECONDS,
        "OPTIONS": {
            **_cache_options,
            # A cache outage degrades to database reads; the queue has its own client that does not.
            "IGNORE_EXCEPTIONS": True,
        },
    },
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
# Read from Redis, written to PostgreSQL and Redis (accounts.sessions): a signed-in call costs
# no session query.
SESSION_ENGINE = "accounts.sessions"

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Without a broker server the tasks run inline, so `make run` still works end to end.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
OUTBOX_RELAY_INTERVAL_SECONDS = env.float("OUTBOX_RELAY_INTERVAL_SECONDS", default=5.0)
# A failing event is tried again after 1, 2, 4... relay intervals (at most an hour apart), and
# left to an operator (the console's Outbox events) once it failed this many times.
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
# An Idempotency-Key is honoured this long after its first use, then purged.
IDEMPOTENCY_KEY_SECONDS = env.int("IDEMPOTENCY_KEY_SECONDS", default=86400)
IDEMPOTENCY_PURGE_INTERVAL_SECONDS = env.float("IDEMPOTENCY_PURGE_INTERVAL_SECONDS", default=3600.0)
CELERY_BEAT_SCHEDULE = {
    "queue-promote": {
        "task": "queueing.queue_promote",
        "schedule": env.float("QUEUE_PROMOTE_INTERVAL_SECONDS", default=1.0),
        # A tick that could not run within its interval is useless later: drop it.
        "options": {"expires": env.float("QUEUE_PROMOTE_INTERVAL_SECONDS", default=1.0)},
    },
    # Booking counts the free seats of each concert with a room of its own, so a sold-out room
    # stops admitting and one whose holds ran out starts again.
    "rooms-free-seats": {
        "task": "booking.rooms_free_seats",
        "schedule": env.float("QUEUE_PROMOTE_INTERVAL_SECONDS", default=1.0),
        "options": {"expires": env.float("QUEUE_PROMOTE_INTERVAL_SECONDS", default=1.0)},
    },
    "holds-expire": {
        "task": "booking.holds_expire",
        "schedule": env.float("HOLD_SWEEP_INTERVAL_SECONDS", default=10.0),
    },
    "outbox-relay": {
        "task": "payments.outbox_relay",
        "schedule": OUTBOX_RELAY_INTERVAL_SECONDS,
    },
    "idempotency-purge": {
        "task": "payments.idempotency_keys_purge",
        "schedule": IDEMPOTENCY_PURGE_INTERVAL_SECONDS,
    },
}
CELERY_TIMEZONE = "UTC"
# Admissions never wait behind other work: the promotion tick and the rooms' seat count have a
# queue and a worker of their own (Procfile `admissions`); everything else stays on `celery`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "queueing.queue_promote": {"queue": "admissions"},
    "booking.rooms_free_seats": {"queue": "admissions"},
}
# Beat keeps its schedule in Redis and holds a lock there (celery-redbeat): a second beat waits
# on the lock and takes over once the first has not renewed it for BEAT_LOCK_TIMEOUT_SECONDS.
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_REDBEAT_REDIS_URL = env("BEAT_REDIS_URL", default=CELERY_BROKER_URL)
CELERY_REDBEAT_LOCK_TIMEOUT = env.int("BEAT_LOCK_TIMEOUT_SECONDS", default=10)
# Beat sleeps at most this long between looks at its schedule, and a waiting beat tries the lock
# this often (celery's default of five minutes would leave the queue without a clock that long).
CELERY_BEAT_MAX_LOOP_INTERVAL = 1

# --- Queue (defaults; operators override them live in the admin) ----------------------------
QUEUE_ROOM = env("QUEUE_ROOM", default="main")
# Room names stand in tokens and keys; "c<digits>" names the concerts' rooms.
if not QUEUE_ROOM.isalnum() or (QUEUE_ROOM[:1] == "c" and QUEUE_ROOM[1:].isdigit()):
    raise ImproperlyConfigured("QUEUE_ROOM must be letters and digits, and not c<digits>.")
QUEUE_KEY_PREFIX = env("QUEUE_KEY_PREFIX", default="cbq")
QUEUE_CAPACITY = env.int("QUEUE_CAPACITY", default=100)
QUEUE_ADMIT_PER_TICK = env.int("QUEUE_ADMIT_PER_TICK", default=20)
QUEUE_SESSION_SECONDS = env.int("QUEUE_SESSION_SECONDS", default=600)
QUEUE_ABANDON_SECONDS = env.int("QUEUE_ABANDON_SECONDS", default=120)
QUEUE_PROMOTE_INTERVAL_SECONDS = env.float("QUEUE_PROMOTE_INTERVAL_SECONDS", default=1.0)
# A concert's pre-queue opens this long before its sale starts.
PREQUEUE_MINUTES = env.int("PREQUEUE_MINUTES", default=30)

# --- Rate limits and hoarding
# One switch for every rate limit: load tests and benchmarks send everything from one address.
RATE_LIMITS_ENABLED = env.bool("RATE_LIMITS_ENABLED", default=True)
# "<count>/<s|m|h|d>" per scope and key (the client address, or the user: the signed-in user, or
# for sign-in the username tried); "off" lifts one. Read by concertbooking.limits.
RATE_LIMITS = {
    "signin": {
        "ip": env("RATE_LIMIT_SIGNIN_IP", default="30/m"),
        "user": env("RATE_LIMIT_SIGNIN_USER", default="10/m"),
    },
    "signup": {"ip": env("RATE_LIMIT_SIGNUP_IP", default="10/h")},
    "queue_join": {
        "ip": env("RATE_LIMIT_QUEUE_JOIN_IP", default="120/m"),
        "user": env("RATE_LIMIT_QUEUE_JOIN_USER", default="20/m"),
    },
    "hold": {
        "ip": env("RATE_LIMIT_HOLD_IP", default="300/m"),
        "user": env("RATE_LIMIT_HOLD_USER", default="30/m"),
    },
    "topup": {
        "ip": env("RATE_LIMIT_TOPUP_IP", default="60/m"),
        "user": env("RATE_LIMIT_TOPUP_USER", default="10/m"),
    },
}
# Queue polls (API and waiting room) a place may make ahead of one per 0.8 s (queueing.keys
# POLL_MS); enforced by the status script itself.
RATE_LIMIT_QUEUE_POLL_BURST = env.int("RATE_LIMIT_QUEUE_POLL_BURST", default=5)
# An admitted user who holds nothing this long loses the slot; a hold keeps it to the session's
# end (0: the whole session, as before).
QUEUE_IDLE_SECONDS = env.int("QUEUE_IDLE_SECONDS", default=120)
# Holds one user may make on one concert that do not end paid (released or run out), per
# window, e.g. "10/h"; "off" lifts it.
HOLD_RELEASES_PER_CONCERT = env("HOLD_RELEASES_PER_CONCERT", default="10/h")

# --- Booking and payments -------------------------------------------------------------------
HOLD_SECONDS = env.int("HOLD_SECONDS", default=300)
HOLD_LIMIT_PER_USER = env.int("HOLD_LIMIT_PER_USER", default=4)
HOLD_SWEEP_INTERVAL_SECONDS = env.float("HOLD_SWEEP_INTERVAL_SECONDS", default=10.0)
# A buyer may cancel a paid ticket until this many hours before the show, and is refunded to the
# balance what they paid less this share (whole percent, rounded in the buyer's favour).
CANCEL_UNTIL_HOURS = env.int("CANCEL_UNTIL_HOURS", default=48)
CANCEL_FEE_PERCENT = env.int("CANCEL_FEE_PERCENT", default=0)
# How long a seat that came back on a sold-out date is held for the next on its waiting list.
WAITLIST_CLAIM_MINUTES = env.int("WAITLIST_CLAIM_MINUTES", default=30)
CHARGE_MAX_AMOUNT = env.int("CHARGE_MAX_AMOUNT", default=10_000_000)
# --- Payments: top-up gateway ----------------------------------------------------------------
# Which payments.gateways class takes top-ups. "sandbox" confirms every top-up at once, money from
# nothing: with DEBUG off it runs only where allowed on purpose (tests, load tests, local stacks).
PAYMENT_GATEWAY = env("PAYMENT_GATEWAY", default="sandbox")
PAYMENT_GATEWAY_SANDBOX_ALLOWED = env.bool("PAYMENT_GATEWAY_SANDBOX_ALLOWED", default=False)
# Key of the HMAC-SHA256 signature on the gateway's callbacks; empty, every callback is refused.
PAYMENT_GATEWAY_SECRET = env("PAYMENT_GATEWAY_SECRET", default="")
# The most one user may top up per UTC day, pending and confirmed top-ups together.
TOPUP_DAILY_LIMIT = env.int("TOPUP_DAILY_LIMIT", default=20_000_000)

# The mail server as one URL (smtp://user:pass@host:25, smtp+tls://..., smtp+ssl://...,
# consolemail://); EMAIL_BACKEND, when set, names another backend class and wins over the URL's.
_email = env.email_url(
    "EMAIL_URL", default="consolemail://", backend=env("EMAIL_BACKEND", default=None)
)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"]  # None: smtplib's default for the scheme (25, or 465 for SSL)
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="tickets@concertbooking.local")
# Where the site is reached from outside, for links in emails (scheme and host, no path).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# A mail server that accepts and then stalls fails a delivery after this long, not the OS's.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The model backend, a session's user read through the caller cache (accounts.selectors).
# Axes first: it refuses a locked account-and-address pair before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "accounts.backends.RememberingModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the source folders too, so runserver and live-server tests need no
# collectstatic; `make serve` still collects compressed copies.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Seconds the cache keeps who an API token or a session's user id is; only a change that bypasses
# signals (QuerySet.update, raw SQL) waits this long to be seen (0: no caching).
CALLER_CACHE_SECONDS = env.int("CALLER_CACHE_SECONDS", default=60)

# --- Accounts: tokens, lockout, sign-up proof -------------------------------------------------
# An API token is refused this long after it was handed out; the client signs in again.
API_TOKEN_SECONDS = env.int("API_TOKEN_SECONDS", default=7 * 24 * 3600)
if API_TOKEN_SECONDS <= 0:
    raise ImproperlyConfigured("API_TOKEN_SECONDS must be a positive number of seconds.")
# Tokens are knox's rows (only a digest stored); accounts.authentication reads them.
REST_KNOX = {"TOKEN_TTL": timedelta(seconds=API_TOKEN_SECONDS)}
# After LOGIN_FAILURE_LIMIT wrong passwords for one account from one address, sign-in for that
# pair is refused until LOGIN_LOCKOUT_SECONDS pass without another attempt (django-axes).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.lockout_address"
AXES_RESET_ON_SUCCESS = True
# Failures are rows in PostgreSQL (the operator console lists and deletes them); a success
# writes none.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_DISABLE_ACCESS_LOG = True
# accounts.admin registers the failures' list itself.
AXES_ENABLE_ADMIN = False
# The sign-in views answer a lockout themselves (a 429 locked_out, a page that says so), so
# axes' middleware, which would replace their answers, is not installed.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]
# Sign-up asks the browser for a proof of work (accounts.signup_proof); off for load tests that
# sign up by script. BITS sets its cost (each bit doubles it), SECONDS how long a challenge lasts.
SIGNUP_CHALLENGE_ENABLED = env.bool("SIGNUP_CHALLENGE_ENABLED", default=True)
SIGNUP_CHALLENGE_BITS = env.int("SIGNUP_CHALLENGE_BITS", default=16)
SIGNUP_CHALLENGE_SECONDS = env.int("SIGNUP_CHALLENGE_SECONDS", default=600)

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with WWW-Authenticate, not 403.
        "accounts.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["concertbooking.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "concertbooking.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "concertbooking API",
    "DESCRIPTION": "Queue tokens, catalog, seat holds and payments. Errors are "
    '`{"code": "...", "detail": "..."}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {"id": IdConverter.schema},
}

# --- Logs: one line per record on stderr, JSON in production, plain text under `make run` ------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
# The header a request's id comes in on (from a proxy: nginx's $request_id) and goes back on;
# concertbooking.logs decides which incoming ids to keep.
REQUEST_ID_HEADER = env("REQUEST_ID_HEADER", default="X-Request-ID")
DJANGO_GUID = {
    "GUID_HEADER_NAME": REQUEST_ID_HEADER,
    # Tasks queued in a request carry its id; tasks from beat get their own. The worker and beat
    # log through LOGGING.
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
}
LOGGING_CONFIG = "concertbooking.logs.configure"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {
            "()": "django_guid.log_filters.CorrelationId",
            "correlation_id_field": "request_id",
        },
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "timestamp": "time",
            "rename_fields": {"levelname": "level", "name": "logger", "exc_info": "exception"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own console handler would print its lines a second time, in its own format.
        "django": {"handlers": [], "level": "INFO"},
        # django-guid narrates each id it sets or clears at INFO: one line per request and task.
        "django_guid": {"level": "WARNING"},
    },
}

# --- Readiness and metrics (concertbooking.readiness, concertbooking.metrics) ----------------
# GET /api/ready fails "beat" when the last promotion tick is older than this (or unknown).
BEAT_HEARTBEAT_MAX_SECONDS = env.float("BEAT_HEARTBEAT_MAX_SECONDS", default=30.0)
# Where several server processes share their metrics (prometheus_client's multiprocess mode,
# which reads the same variable); empty: one process keeps its own, as under `make run`.
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")
if not PROMETHEUS_MULTIPROC_DIR:
    # Set but empty, the library would write its files into the working directory.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
# When set, GET /metrics asks for `Authorization: Bearer <token>`; the proxy keeps it private.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# --- App server: gunicorn.conf.py binds and sizes itself from these --------------------------
HOST = env("HOST", default="127.0.0.1")
PORT = env.int("PORT", default=8000)
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=3)
WEB_THREADS = env.int("WEB_THREADS", default=4)
ACCESS_LOG = env.bool("ACCESS_LOG", default=False)

# --- HTTPS (behind a TLS-terminating proxy: see README's operations) ------------------------
# The header a proxy sets to the scheme the client used, e.g. X-Forwarded-Proto; only name it
# when a proxy always sets it, or a client could claim HTTPS.
_proto_header = env("SECURE_PROXY_SSL_HEADER", default="")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proto_header.upper().replace("-", "_"), "https") if _proto_header else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Session and CSRF cookies sent over HTTPS only.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)

# --- Production refuses to start on what only suits a laptop or a test ------------------------
if not DEBUG:
    from django.core.checks.security import base as _security

    _refused = []
    if "DATABASE_URL" not in env.ENVIRON:
        _refused.append("DATABASE_URL is not set: the SQLite file is for `make run` only.")
    if not REDIS_URL:
        _refused.append("REDIS_URL is not set: the in-process Redis is for `make run` only.")
    if (
        len(SECRET_KEY) < _security.SECRET_KEY_MIN_LENGTH
        or len(set(SECRET_KEY)) < _security.SECRET_KEY_MIN_UNIQUE_CHARACTERS
        or SECRET_KEY.startswith(_security.SECRET_KEY_INSECURE_PREFIX)
    ):
        _refused.append(
            f"SECRET_KEY is weak: use at least {_security.SECRET_KEY_MIN_LENGTH} random "
            "characters (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    if PAYMENT_GATEWAY == "sandbox" and not PAYMENT_GATEWAY_SANDBOX_ALLOWED:
        _refused.append(
            "PAYMENT_GATEWAY is 'sandbox', which credits every top-up without payment: set a "
            "real gateway, or PAYMENT_GATEWAY_SANDBOX_ALLOWED=1 for a test or load-test stack."
        )
    if "testserver" in ALLOWED_HOSTS:
        _refused.append("ALLOWED_HOSTS names testserver, the test client's host.")
    if _refused:
        raise ImproperlyConfigured(
            "With DEBUG off these settings are refused:\n  " + "\n  ".join(_refused)
        )
