"""Project settings, read from the environment (and an optional `.env`).

With no environment at all the product runs on embedded defaults: SQLite, a Celery broker on the
filesystem, local file storage. `DJANGO_ENV=production` turns every default that is only fit for a
laptop into a hard requirement, so a half-configured server refuses to start instead of running
insecurely.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

from core.logs import LOG_FORMATS, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}"
    )
PRODUCTION = DJANGO_ENV == "production"

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
if not PRODUCTION:
    # The embedded defaults keep their database, broker and files here.
    (VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-3f9a1c7e5b2d4f6a8c0e"  # noqa: S105
# A fixed development Fernet key so that demo data survives restarts; production must set its own.
_DEV_FERNET_KEY = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3QtZm9yLXByb2Q="


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
    return dev_default


SECRET_KEY = _required_in_production("DJANGO_SECRET_KEY", _DEV_SECRET_KEY)
if PRODUCTION and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be a long random value in production")
# Old secret keys still accepted for sessions and signed values while a new key takes over
# (docs/operations.md, "Rotating keys"); comma-separated.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

# Off unless asked for (DJANGO_DEBUG=true): the demo runs like the product, with its own error
# pages and never Django's debug page listing every URL.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be off in production")

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names in production")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Key(s) for encrypting secrets at rest (the Visma password). Comma-separated: the first encrypts,
# all decrypt, so a key can be rotated without losing stored secrets.
FERNET_KEYS = [
    k.strip() for k in _required_in_production("FERNET_KEYS", _DEV_FERNET_KEY).split(",") if k
]
if PRODUCTION and _DEV_FERNET_KEY in FERNET_KEYS:
    raise ImproperlyConfigured("FERNET_KEYS must not contain the development key in production")

# Synthetic national ids (Tenor: month+80, Dolly: month+40 overlaps H-nummer) are test data.
ALLOW_SYNTHETIC_IDS = env.bool("ALLOW_SYNTHETIC_IDS", default=not PRODUCTION)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "axes",
    "core",
    "invoices",
    "exports",
    "integrations",
    "accounts",
    "operations",
    # Last: the project's own commands that set up every app (seed_demo).
    "aidn_billing",
]

# The channels a month can leave by (invoices/channels.py), in the order the pages show them.
BILLING_CHANNELS = [
    "exports.channel.CHANNEL",
    "integrations.channel.CHANNEL",
]

MIDDLEWARE = [
    # Health probes are answered before the host check and the HTTPS redirect: a load balancer
    # probes each backend by address and over plain HTTP (docs/operations.md, "Health").
    "operations.middleware.RequestIdMiddleware",
    "operations.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below WhiteNoise, so static files keep their cache lifetime; above the rest, so every page,
    # redirect and error the application makes is covered (docs/security.md).
    "aidn_billing.headers.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Bokmål unless chosen otherwise in the header; the browser's language is ignored.
    "aidn_billing.middleware.ExplicitLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a login refused for a lockout into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "aidn_billing.urls"

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
                "invoices.context_processors.tenant",
            ],
        },
    },
]

WSGI_APPLICATION = "aidn_billing.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if PRODUCTION and DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    raise ImproperlyConfigured("Production needs DATABASE_URL pointing at PostgreSQL")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web server share one SQLite file: wait for locks instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A database that does not answer fails a request (and the readiness probe) in seconds.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DB_CONNECT_TIMEOUT", default=5
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if DJANGO_ENV == "test":
    # Tests log in hundreds of times; a deliberately slow hash would dominate the suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "nb"
# Dates as 06.12.2026 and 06.12.2026 14:05 in both languages (aidn_billing/formats/).
FORMAT_MODULE_PATH = ["aidn_billing.formats"]
LANGUAGES = [("nb", "Norsk bokmål"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# Stored export files. On several hosts: one shared volume, mounted at this path on every web and
# worker host (docs/operations.md, "Several hosts"). Temporary files are written inside it, so the
# final move is a rename on the same filesystem.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
if not PRODUCTION:
    MEDIA_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},  # in MEDIA_ROOT
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Outside production, serve static files straight from the app folders.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

CSRF_FAILURE_VIEW = "aidn_billing.errors.csrf_failure"

# Login throttling (django-axes, accounts/throttle.py, docs/security.md): after
# LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that username is locked
# from that address for LOGIN_LOCKOUT_MINUTES, right password or not. By username alone anyone
# could lock staff out; by address alone a whole town hall behind one NAT would be.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
# Reverse proxies in front that append to X-Forwarded-For; 0 means the connection's own address.
LOGIN_TRUSTED_PROXIES = env.int("LOGIN_TRUSTED_PROXIES", default=0)
for _name, _value, _least in (
    ("LOGIN_FAILURE_LIMIT", LOGIN_FAILURE_LIMIT, 1),
    ("LOGIN_LOCKOUT_MINUTES", LOGIN_LOCKOUT_MINUTES, 1),
    ("LOGIN_TRUSTED_PROXIES", LOGIN_TRUSTED_PROXIES, 0),
):
    if _value < _least:
        raise ImproperlyConfigured(f"{_name} must be at least {_least}, not {_value}")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked username before the password
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "accounts.addresses.client_ip"
AXES_USERNAME_CALLABLE = "accounts.throttle.client_username"
# A correct login forgets the failures before it; attempts during a lock neither count nor prolong
# it, so "try again in 15 minutes" stays true.
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "accounts.throttle.AuditedAxesHandler"
AXES_LOCKOUT_CALLABLE = "accounts.throttle.lockout_response"
# The product's audit trail records logins (accounts/events.py); axes keeps only the failures.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Intake limits (spec/intake.md).
INTAKE_MAX_BODY_BYTES = 10 * 1024 * 1024
INTAKE_MAX_BASES_PER_REQUEST = 5000
DATA_UPLOAD_MAX_MEMORY_SIZE = INTAKE_MAX_BODY_BYTES + 1024

# Celery: Redis when REDIS_URL is set, else a broker on the local filesystem so that a laptop
# runs a real worker without any service.
REDIS_URL = env.str("REDIS_URL", default="")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("Production needs REDIS_URL for the Celery broker")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
    # Several installations (test and production) may share one Redis: a prefix keeps their queues
    # apart.
    if REDIS_KEY_PREFIX := env.str("REDIS_KEY_PREFIX", default=""):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "out"),
        "data_folder_out": str(CELERY_BROKER_DIR / "out"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# Celery beat: exactly one per installation. Its scheduler records a tick for the readiness probe,
# and it wakes at least this often; its schedule state lives in this file (a local disk).
CELERY_BEAT_SCHEDULER = "operations.beat:HeartbeatScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 15
CELERY_BEAT_SCHEDULE_FILENAME = env.str(
    "CELERY_BEAT_SCHEDULE_FILE", default=str(VAR_DIR / "celerybeat-schedule")
)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Finds Visma calls whose worker died (expired lease) and transfers that stalled.
    "visma-sweep-stuck-attempts": {
        "task": "integrations.tasks.sweep_stuck_attempts",
        "schedule": 60.0,
    },
    # Reads invoice number, due date and KID back from Visma for sent bases.
    "visma-refresh-status": {"task": "integrations.tasks.refresh_status", "schedule": 3600.0},
    # Requeues file exports whose worker died mid-run.
    "exports-resume-stale": {"task": "exports.tasks.resume_stale_exports", "schedule": 300.0},
}

# Visma web service: plain http is allowed only for loopback, or for hosts listed here (test rigs).
VISMA_HTTP_ALLOWED_HOSTS = env.list("VISMA_HTTP_ALLOWED_HOSTS", default=[])
VISMA_CONNECT_TIMEOUT = env.float("VISMA_CONNECT_TIMEOUT", default=5.0)
VISMA_READ_TIMEOUT = env.float("VISMA_READ_TIMEOUT", default=60.0)
VISMA_SIMULATOR_PORT = env.int("VISMA_SIMULATOR_PORT", default=8290)
# Sending (docs/visma.md). Calls in parallel per transfer (one per worker process), and bases
# per call (the contract allows 1–200).
VISMA_PARALLEL_CALLS = env.int("VISMA_PARALLEL_CALLS", default=4)
VISMA_BATCH_SIZE = env.int("VISMA_BATCH_SIZE", default=200)
if not 1 <= VISMA_BATCH_SIZE <= 200:
    raise ImproperlyConfigured("VISMA_BATCH_SIZE must be between 1 and 200")
# A worker's claim on a batch expires after this long; the sweeper then asks HentStatus. It must
# outlast the longest possible call, or a slow call could be taken for a dead one.
VISMA_LEASE_SECONDS = env.float("VISMA_LEASE_SECONDS", default=300.0)
if VISMA_LEASE_SECONDS <= VISMA_CONNECT_TIMEOUT + VISMA_READ_TIMEOUT:
    raise ImproperlyConfigured(
        "VISMA_LEASE_SECONDS must be longer than VISMA_CONNECT_TIMEOUT + VISMA_READ_TIMEOUT"
    )
# Retries of calls that surely did not arrive: exponential backoff with jitter, capped.
VISMA_RETRY_BASE_SECONDS = env.float("VISMA_RETRY_BASE_SECONDS", default=10.0)
VISMA_RETRY_MAX_SECONDS = env.float("VISMA_RETRY_MAX_SECONDS", default=600.0)
VISMA_MAX_SEND_ATTEMPTS = env.int("VISMA_MAX_SEND_ATTEMPTS", default=8)
# After a lost reply, wait this long before asking HentStatus (the call may still be running).
VISMA_STATUS_SETTLE_SECONDS = env.float("VISMA_STATUS_SETTLE_SECONDS", default=VISMA_READ_TIMEOUT)
# The sweeper wakes a transfer whose due work has waited this long without a worker.
VISMA_SWEEP_GRACE_SECONDS = env.float("VISMA_SWEEP_GRACE_SECONDS", default=60.0)
# One task run sends for at most this long, then hands over to a fresh task.
VISMA_WORKER_TIME_BUDGET = env.float("VISMA_WORKER_TIME_BUDGET", default=600.0)

# Health (docs/operations.md): how fresh a worker's heartbeat and beat's tick must be, how often
# a worker writes its heartbeat, and the free space the file storage must keep.
HEALTH_WORKER_MAX_AGE = env.float("HEALTH_WORKER_MAX_AGE", default=60.0)
HEALTH_BEAT_MAX_AGE = env.float("HEALTH_BEAT_MAX_AGE", default=90.0)
HEALTH_HEARTBEAT_SECONDS = env.float("HEALTH_HEARTBEAT_SECONDS", default=15.0)
HEALTH_MIN_FREE_DISK_MB = env.int("HEALTH_MIN_FREE_DISK_MB", default=1024)

# One line per event on stderr (journald keeps it); LOG_FORMAT=json for a log collector.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
LOGGING = logging_config(
    level=LOG_LEVEL,
    fmt=LOG_FORMAT,
    extra_loggers={
        "axes": {"level": "WARNING"},  # one INFO line per login otherwise; the audit trail has them
        # Django's own console handler (DEBUG only) would print every line a second time.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
)

if PRODUCTION:
    # TLS ends at the reverse proxy, which must set this header itself (overwriting any the client
    # sent); the application then knows the request came over HTTPS. docs/operations.md.
    _proxy_header = env.str("DJANGO_PROXY_SSL_HEADER", default="X-Forwarded-Proto")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp): scripts and styles only from our own static files, no
# inline script, event handler or style attribute anywhere (templates and htmx are set up for it,
# see docs/security.md), no plugins, no framing, forms post only to us.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_NONE],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    }
}
# A chosen language outlives the browser session; Bokmål for everyone who has not chosen.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_AGE = 8 * 3600
X_FRAME_OPTIONS = "DENY"
