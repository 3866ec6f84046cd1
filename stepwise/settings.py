"""Stepwise settings, all read from the environment.

Defaults give a single-machine install with no services: SQLite and a
filesystem Celery broker under ``STEPWISE_DATA_DIR``. Production sets
``DATABASE_URL`` (PostgreSQL), ``CELERY_BROKER_URL`` and ``REDIS_URL`` (Redis),
``SECRET_KEY``, ``ALLOWED_HOSTS`` and leaves ``DEBUG`` unset.
"""

import os
from pathlib import Path

import dj_database_url

from stepwise.csp import DEFAULT_POLICY as DEFAULT_CSP

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("STEPWISE_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or (
    "django-insecure-stepwise-dev-only" if DEBUG else None
)
if not SECRET_KEY:
    # Refuse to run a non-debug server with a guessable key.
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_htmx",
    # Bottom to top (docs/architecture.md): each app imports only the apps below it.
    "workers",
    "annotate",
    "quality",
    "generation",
    "training",
    "exports",
    "console",
    "search",
    "demo",
    "api",
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "stepwise.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "stepwise.urls"
WSGI_APPLICATION = "stepwise.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'stepwise.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker write the same file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 30,
         "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# Front-end packages come from the npm registry at set-up (package.json); they are
# served from node_modules under stable prefixes, never from a CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/katex", BASE_DIR / "node_modules" / "katex" / "dist"),
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "media"
WHITENOISE_USE_FINDERS = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "annotate:home"
LOGOUT_REDIRECT_URL = "login"

# Security: strict in production, relaxed only for local DEBUG runs.
# Scripts only from the app's own origin (stepwise/csp.py); '' turns the header off.
CONTENT_SECURITY_POLICY = os.environ.get("CONTENT_SECURITY_POLICY", DEFAULT_CSP)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        # Fail-soft: an unreachable Redis makes calls miss, never raise (stepwise/cache.py).
        {"BACKEND": "stepwise.cache.FailSoftRedisCache", "LOCATION": REDIS_URL,
         "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Sessions are read on every request: from Redis when there is one, written through to the
# database so a cache flush logs nobody out. The database row is the truth: a cached
# session counts only while its row lives, so a logout made while Redis is unreachable
# stays final (stepwise/sessions.py). A per-process memory cache would let one process
# keep a session another has ended (logout), so without Redis they stay in the database.
SESSION_ENGINE = ("stepwise.sessions" if REDIS_URL
                  else "django.contrib.sessions.backends.db")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.APITokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.APIUserThrottle",
        "api.throttling.APIAnonThrottle",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON with bounded nesting and no NUL bytes or lone surrogates (api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stepwise API",
    "DESCRIPTION": "Process supervision data: projects, step trees, ratings, runs and exports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OriginEnum": "api.schema.ORIGIN_CHOICES",
        "AssignmentSourceEnum": "api.schema.ASSIGNMENT_SOURCE_CHOICES",
        "PrmModelStatusEnum": "training.models.PrmModel.Status",
    },
}
# API rate limits (DRF throttles on the default cache: Redis when REDIS_URL is set).
STEPWISE_API_RATES = {
    "user": os.environ.get("API_RATE_USER", "3000/minute"),
    "anon": os.environ.get("API_RATE_ANON", "60/minute"),
}

# Failed sign-ins and bad API tokens (api.throttling.FailureCounter, docs/security.md):
# after this many failures in the window, the username / the address waits for the window's
# end. The counters live in the cache; while it is unreachable they refuse nothing.
STEPWISE_AUTH_WINDOW_SECONDS = int(os.environ.get("AUTH_WINDOW_SECONDS", "900"))
STEPWISE_LOGIN_LIMIT_USER = int(os.environ.get("LOGIN_LIMIT_USER", "10"))
STEPWISE_LOGIN_LIMIT_IP = int(os.environ.get("LOGIN_LIMIT_IP", "50"))
STEPWISE_BAD_TOKEN_LIMIT = int(os.environ.get("BAD_TOKEN_LIMIT", "30"))

# Tokens the reward service feeds the model per request (after each item's truncation to
# the model's length): items and steps alone do not bound the work, long steps do.
PRM_REWARD_MAX_TOKENS = int(os.environ.get("PRM_REWARD_MAX_TOKENS", "32768"))

# --- Celery -----------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # Broadcast (pidbox) exchanges; kombu's default is ./control in the cwd.
        "control_folder": str(BROKER_DIR / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 6 * 3600,
        # A publish tries the broker twice, 0.2 s apart, then leaves the Run in the outbox
        # (kombu's default retry sleeps 2 s, holding the request that queued it).
        "max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
    }

# Runs (workers/runs.py, workers/dispatch.py): a running Run's worker stamps it every
# RUN_HEARTBEAT_SECONDS; one silent for RUN_STALE_SECONDS is handed back to the queue by the
# dispatcher, which every worker runs every RUN_SWEEP_SECONDS. A queued Run the broker never
# got (it was down) is sent once it is RUN_PUBLISH_GRACE_SECONDS old; one that was sent but
# has not started after RUN_REPUBLISH_SECONDS is sent again (a broker restarted without
# persistence loses its messages; a duplicate message does nothing), at once when the
# broker's sentinel message is gone (workers/sentinel.py).
# The deployment's OpenAI-compatible generation server (docker compose's vllm service):
# projects on the openai backend that name no server of their own use this one.
GENERATION_SERVER_URL = os.environ.get("GENERATION_SERVER_URL", "").strip().rstrip("/")
# Outbound requests and their credentials (outbound/, docs/security.md). The hosts the server
# may send requests to (host, host:port, *.domain, a network, or *; GENERATION_SERVER_URL is
# always allowed), and the named secrets a project may choose as a server's key (NAME or
# NAME=ENVVAR): a project admin picks a name, never an environment variable.
STEPWISE_OUTBOUND_HOSTS = [h.strip() for h in os.environ.get("STEPWISE_OUTBOUND_HOSTS", "").split(",")
                           if h.strip()]
STEPWISE_SERVER_SECRETS = os.environ.get("STEPWISE_SERVER_SECRETS", "")
# Model directories the web process may read a config.json from (MODELS_DIR always),
# comma-separated; the Generator tab's check never reads anything else.
STEPWISE_MODEL_DIRS = [d.strip() for d in os.environ.get("STEPWISE_MODEL_DIRS", "").split(",") if d.strip()]

# PRM scoring (training/backends, docs/training.md "Serving a PRM"): "transformers" loads
# each PRM in the process that scores; "vllm" sends steps to the vLLM pooling servers listed
# in STEPWISE_SCORING_URLS (comma-separated base URLs), so no web process loads weights.
STEPWISE_SCORING_BACKEND = os.environ.get("STEPWISE_SCORING_BACKEND", "transformers").strip()
STEPWISE_SCORING_URLS = [u.strip().rstrip("/") for u in os.environ.get("STEPWISE_SCORING_URLS", "").split(",")
                         if u.strip()]
STEPWISE_SCORING_TIMEOUT = float(os.environ.get("STEPWISE_SCORING_TIMEOUT", "60"))

RUN_HEARTBEAT_SECONDS = float(os.environ.get("RUN_HEARTBEAT_SECONDS", "20"))
RUN_STALE_SECONDS = float(os.environ.get("RUN_STALE_SECONDS", "120"))
RUN_SWEEP_SECONDS = float(os.environ.get("RUN_SWEEP_SECONDS", "15"))
RUN_PUBLISH_GRACE_SECONDS = float(os.environ.get("RUN_PUBLISH_GRACE_SECONDS", "10"))
RUN_REPUBLISH_SECONDS = float(os.environ.get("RUN_REPUBLISH_SECONDS", "600"))
# Publishing gives up quickly when the broker is down: the Run waits in the outbox.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "1"))

# Imports (docs/importing.md, "Limits"): uncompressed bytes read per import (a .gz bomb
# stops here), the longest line (checked while reading), rows per import, JSON nesting.
IMPORT_MAX_BYTES = int(os.environ.get("STEPWISE_IMPORT_MAX_BYTES", str(10 << 30)))
IMPORT_MAX_LINE_BYTES = int(os.environ.get("STEPWISE_IMPORT_MAX_LINE_BYTES", "20000000"))
IMPORT_MAX_ROWS = int(os.environ.get("STEPWISE_IMPORT_MAX_ROWS", "5000000"))
IMPORT_MAX_JSON_DEPTH = int(os.environ.get("STEPWISE_IMPORT_MAX_JSON_DEPTH", "64"))

# Where workers keep models and trained artefacts.
MODELS_DIR = Path(os.environ.get("STEPWISE_MODELS_DIR", DATA_DIR / "models"))
EXPORTS_DIR = Path(os.environ.get("STEPWISE_EXPORTS_DIR", DATA_DIR / "exports"))
# Models any project may train from or register (training/locations.py), comma-separated:
# "name=/path/or/hub-id" names one model, "/a/dir" shares every model folder in it. The
# shared folders of MODELS_DIR are always offered; its prm/ tree (each project's PRMs) never.
STEPWISE_MODEL_REGISTRY = [e.strip() for e in os.environ.get("STEPWISE_MODEL_REGISTRY", "").split(",")
                           if e.strip()]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # API keys and URL credentials are masked in every log line, whatever logs them: every
    # handler redacts. Django's own handlers (DEFAULT_LOGGING: a console handler on "django"
    # under DEBUG, "django.server", "mail_admins") are replaced here, or they would print
    # reward-URL lines unredacted, and under DEBUG a second time beside the root's.
    "filters": {"redact_tokens": {"()": "api.log_filters.RedactTokens"},
                "redact_credentials": {"()": "outbound.redact.RedactCredentials"},
                "no_client_tracebacks": {"()": "stepwise.log_filters.NoTracebackForClientErrors"},
                "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"}},
    "formatters": {"django.server": {"()": "django.utils.log.ServerFormatter",
                                     "format": "[{server_time}] {message}", "style": "{"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler",
                    "filters": ["redact_tokens", "redact_credentials"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server",
                          "filters": ["redact_tokens", "redact_credentials"]},
        "mail_admins": {"level": "ERROR", "class": "django.utils.log.AdminEmailHandler",
                        "filters": ["require_debug_false", "redact_tokens", "redact_credentials"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Console lines reach the root's handler once; errors also mail ADMINS, as by default.
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # A routine 4xx logs one line, without a traceback.
        "django.request": {"filters": ["no_client_tracebacks"]},
        # A line per request to a scoring or generation server is noise; failures are raised.
        "httpx2": {"level": "WARNING"},
    },
}
