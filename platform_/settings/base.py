"""Settings shared by every environment. Every variable read here is documented in `.env.example`."""

import ipaddress
import os
from pathlib import Path

import environ

from ml import offline
from platform_.queues import Queue
from platform_.settings.checks import memory_limit_bytes

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
# A `.env` file is optional; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("DOWNSTREAM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Make the ML stack offline-safe before anything can import transformers or ultralytics.
ML_HOME = Path(env.str("ML_HOME", default=str(VAR_DIR / "ml")))
offline.configure(ML_HOME)
# Operator-supplied backbone weights (inspection configs' backbone_weights) are read from this folder only; ml/
# reads it from the environment, as it reads ML_DEVICE.
ML_BACKBONE_DIR = Path(env.str("ML_BACKBONE_DIR", default="") or VAR_DIR / "backbones")
os.environ["ML_BACKBONE_DIR"] = str(ML_BACKBONE_DIR)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Peers whose X-Forwarded-For is believed (the reverse proxy): addresses or networks, or *. uvicorn reads the same
# variable for --forwarded-allow-ips; rate limits and throttles key clients by it (apps.core.clients).
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=["127.0.0.1", "::1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "apps.core",
    "apps.accounts",
    "apps.mlops",
    "apps.commerce",
    "apps.recommendations",
    "apps.chatbot",
    "apps.inspection",
    "apps.traffic",
    "apps.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.limits.RequestBodyLimitMiddleware",
    "platform_.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.api.middleware.ApiNotFoundMiddleware",
    # A database, Redis or broker outage answers 503 with Retry-After, never 500 (apps/core/outages.py). Innermost:
    # it sees a view's exception first.
    "apps.core.outages.ServiceUnavailableMiddleware",
]

# Content-Security-Policy of every page ("off": no header). Scripts only from this server, no inline scripts or
# handlers; inline styles are allowed (style attributes in templates, the widget's stylesheet). 'self' covers the
# chat's same-host WebSockets. The API docs pages (third-party inline scripts) get their own, looser policy.
CONTENT_SECURITY_POLICY = env.str("DJANGO_CONTENT_SECURITY_POLICY", default="") or (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
if CONTENT_SECURITY_POLICY.strip().lower() == "off":
    CONTENT_SECURITY_POLICY = ""

ROOT_URLCONF = "platform_.urls"
WSGI_APPLICATION = "platform_.wsgi.application"
ASGI_APPLICATION = "platform_.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.dashboard.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
# Embedded default: SQLite under var/. Web and worker processes share it, so it runs in WAL mode with
# immediate transactions; otherwise concurrent writers get "database is locked".
# PostgreSQL: a bounded psycopg pool per process (Django's OPTIONS["pool"]) instead of persistent connections.
# Under ASGI every sync request runs in a new thread, and CONN_MAX_AGE kept one connection per thread open: a busy
# web process held the whole server. With the pool a process never holds more than DATABASE_POOL_MAX_SIZE
# connections; a request that finds the pool exhausted waits DATABASE_POOL_TIMEOUT seconds and then answers 503.
# Connection budget: (web processes x web pool max) + (worker processes x worker pool max) + beat + admin
# headroom must stay below PostgreSQL's max_connections (README, "Connection budget").


def database_settings(url: str) -> dict:
    database = env.db_url_config(url)
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
        return database
    if env.bool("DATABASE_POOL", default=True):
        database["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django returns each one after the request
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=5.0),
            "max_idle": env.float("DATABASE_POOL_MAX_IDLE", default=60.0),
        }
    else:
        database["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
    database["CONN_HEALTH_CHECKS"] = True
    return database


DATABASES = {"default": database_settings(env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'downstream.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed logins (/login/ and /admin/) per username and per client address within the window; past either limit
# the login page refuses to check passwords until the window ends.
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=20)
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

# --- Cache (throttling, shared state) ----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "apps.core.cache.ResilientRedisCache", "LOCATION": REDIS_URL}}
    # A bounded pool per process (apps.core.redis_pool): redis-py's default opens a connection per busy thread.
    CACHES["default"]["OPTIONS"] = {
        "pool_class": "apps.core.redis_pool.SharedConnectionPool",
        "max_connections": env.int("REDIS_CACHE_MAX_CONNECTIONS", default=20),
        "timeout": env.float("REDIS_CACHE_POOL_TIMEOUT", default=5.0),
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# While Redis is unreachable the cache answers from process memory (rate limits count per process) and asks Redis
# again after this long; each Redis call gives up after the socket timeout, so an outage costs milliseconds.
CACHE_OUTAGE_RETRY_SECONDS = env.float("CACHE_OUTAGE_RETRY_SECONDS", default=5.0)
CACHE_SOCKET_TIMEOUT_SECONDS = env.float("CACHE_SOCKET_TIMEOUT_SECONDS", default=0.5)
# A write that needs the broker while it is unreachable answers 503 with this Retry-After (seconds).
OUTAGE_RETRY_AFTER_SECONDS = env.int("OUTAGE_RETRY_AFTER_SECONDS", default=10)

# --- Channels (live chat) --------------------------------------------------------------------------------
# Redis carries events between processes; without it the in-memory layer serves one web process, which is
# enough because the web process itself produces the bot's and the operators' messages.
if REDIS_URL:
    # redis-py 8 reads with a 5 s socket timeout by default, the same as channels-redis' blocking pop: a quiet
    # channel then fails with "Timeout reading" instead of returning empty, so reads get a longer timeout.
    # A 1 s connect timeout: while Redis is down, publishing a chat event is skipped in milliseconds, not seconds.
    # A capped pool per process (apps.core.redis_pool): the stock layer opens a connection per concurrent send.
    _channel_host = {
        "address": REDIS_URL,
        "socket_timeout": 30,
        "socket_connect_timeout": 1,
        "max_connections": env.int("REDIS_CHANNELS_MAX_CONNECTIONS", default=50),
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "apps.core.redis_pool.BoundedRedisChannelLayer", "CONFIG": {"hosts": [_channel_host]}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Demo mode ----------------------------------------------------------------------------------------------
# The demo shop page (/chatbot/demo-shop/), which signs a demo customer with the demo site's secret, exists only
# when this is on: local settings and `make run` turn it on; production leaves it off.
DOWNSTREAM_DEMO = env.bool("DOWNSTREAM_DEMO", default=False)

# --- Chatbot --------------------------------------------------------------------------------------------
CHATBOT_MESSAGES_PER_MINUTE = env.int("CHATBOT_MESSAGES_PER_MINUTE", default=20)
CHATBOT_SESSIONS_PER_MINUTE = env.int("CHATBOT_SESSIONS_PER_MINUTE", default=30)
# All of a site's widgets together (a script cycling through addresses still hits this one).
CHATBOT_SITE_SESSIONS_PER_MINUTE = env.int("CHATBOT_SITE_SESSIONS_PER_MINUTE", default=600)
# Every widget HTTP call, socket connection and socket message of one client (IPv4 address or IPv6 /64); the
# widget polls every 2 s when WebSockets are blocked (30 a minute).
CHATBOT_WIDGET_REQUESTS_PER_MINUTE = env.int("CHATBOT_WIDGET_REQUESTS_PER_MINUTE", default=240)
# The widget's HTTP bodies (a 2,000-character message is at most ~12 KB of JSON).
CHATBOT_WIDGET_MAX_BODY_BYTES = env.int("CHATBOT_WIDGET_MAX_BODY_BYTES", default=16 * 1024)
# One incoming WebSocket message, on every socket; runplatform passes it to uvicorn as --ws-max-size.
WEBSOCKET_MAX_MESSAGE_BYTES = env.int("WEBSOCKET_MAX_MESSAGE_BYTES", default=16 * 1024)
CHATBOT_SESSION_MAX_AGE = env.int("CHATBOT_SESSION_MAX_AGE", default=7 * 24 * 3600)
# A shop's signature of its signed-in customer ("<expires>.<hex>") may be valid for at most this long (seconds).
CHATBOT_IDENTITY_MAX_AGE = env.int("CHATBOT_IDENTITY_MAX_AGE", default=24 * 3600)
# After a conversation closes, its widget token still reads the last messages and rates the chat for this long; then nothing.
CHATBOT_CLOSED_TOKEN_GRACE = env.int("CHATBOT_CLOSED_TOKEN_GRACE", default=600)
# Cosine similarity (MiniLM) a FAQ article needs to be given as the answer, or offered as a suggestion.
CHATBOT_FAQ_ANSWER_SIMILARITY = env.float("CHATBOT_FAQ_ANSWER_SIMILARITY", default=0.4)
CHATBOT_FAQ_SUGGEST_SIMILARITY = env.float("CHATBOT_FAQ_SUGGEST_SIMILARITY", default=0.3)
# Customer messages classified below this confidence are listed for teaching.
CHATBOT_TEACH_BELOW_CONFIDENCE = env.float("CHATBOT_TEACH_BELOW_CONFIDENCE", default=0.6)
CHATBOT_RECOMMENDATIONS = env.int("CHATBOT_RECOMMENDATIONS", default=4)
# What the bot remembers of a conversation (the slot it asked for, the last product search, the order it showed) is
# forgotten after this many seconds without a message: a customer back the next day starts afresh.
CHATBOT_DIALOGUE_TTL_SECONDS = env.int("CHATBOT_DIALOGUE_TTL_SECONDS", default=30 * 60)
# Product answers search an in-process index of the catalog, checked for changes at most this often.
CHATBOT_CATALOG_REFRESH_SECONDS = env.float("CHATBOT_CATALOG_REFRESH_SECONDS", default=10.0)
# Catalogs up to this size get MiniLM embeddings for relevance (~14 ms a product to encode once on 2 CPU cores);
# larger ones are ranked by BM25 alone so a web process does not spend many minutes encoding at start-up.
CHATBOT_CATALOG_DENSE_MAX_PRODUCTS = env.int("CHATBOT_CATALOG_DENSE_MAX_PRODUCTS", default=10_000)
# torch intra-op threads of a process that answers chat messages (one message at a time is fastest on one
# thread, and leaves the other cores to concurrent requests); 0 leaves torch's default.
CHATBOT_INFERENCE_THREADS = env.int("CHATBOT_INFERENCE_THREADS", default=1)
# Concurrent replies share one model pass of at most this many messages (apps.chatbot.batching): 8 messages cost
# ~2 ms each in one pass against ~10 ms alone. 1 turns batching off.
CHATBOT_INFERENCE_MAX_BATCH = env.int("CHATBOT_INFERENCE_MAX_BATCH", default=16)
# Chat messages one web process answers at once (HTTP and WebSocket together); past it the widget gets 503 with
# Retry-After at once instead of a queue that grows until requests time out.
CHATBOT_REPLIES_IN_FLIGHT = env.int("CHATBOT_REPLIES_IN_FLIGHT", default=128)
# Threads per web process that answer WebSocket chat messages (HTTP requests each run in their own thread).
CHATBOT_WEBSOCKET_THREADS = env.int("CHATBOT_WEBSOCKET_THREADS", default=32)
# Each web process loads the intent model and FAQ index right after it starts (ASGI lifespan), not at the first chat.
CHATBOT_WARM_UP = env.bool("CHATBOT_WARM_UP", default=True)
CHATBOT_GREETING_QUICK_REPLIES = ["Where is my order?", "How do returns work?", "Recommend something", "Talk to a human"]

# --- REST API -------------------------------------------------------------------------------------------
# Largest request body (JSON, form) any endpoint takes unless it names its own limit (apps.core.limits): parsing
# JSON costs ~25x its size in memory. Multipart file uploads are bounded by each upload's own setting.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# Bulk ingestion (/api/v1/commerce/*/bulk/) takes up to 10,000 rows per request: a few MB of JSON.
COMMERCE_BULK_MAX_BODY_BYTES = env.int("COMMERCE_BULK_MAX_BODY_BYTES", default=16 * 1024 * 1024)
# Return policy: an order line can be returned this many days from delivery (the chatbot's return flow applies it).
SHOP_RETURN_WINDOW_DAYS = env.int("SHOP_RETURN_WINDOW_DAYS", default=30)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: a form-encoded body cannot say what type a value is ("1", "null", "[[0, 0]]" all arrive as strings).
    # Views that take files name their parsers (multipart) themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "apps.core.api.filters.FilterBackend",  # bounded integer/float/id query parameters
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.api.throttling.AnonRateThrottle",
        "apps.core.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
    },
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Downstream API",
    "DESCRIPTION": "Recommendations, customer-service chat, defect inspection and traffic monitoring on one ML platform.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Request and response components apart: a client sees which fields it sends, and blank strings are refused.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc are served from the sidecar package: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TriggerEnum": "apps.mlops.models.Trigger",
        "TrafficDirectionEnum": "apps.traffic.models.Direction",
        "TrafficJobStatusEnum": "apps.traffic.models.JobStatus",
        "TrafficReviewVerdictEnum": "apps.traffic.models.ReviewVerdict",
        "TrafficCrossingVerdictEnum": "apps.traffic.services.CROSSING_VERDICTS",
        "OrderStatusEnum": "apps.commerce.models.OrderStatus",
        "EventTypeEnum": "apps.commerce.models.EventType",
    },
}

# --- Celery ---------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "") or None
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

ML_TRAINING_SOFT_TIME_LIMIT = env.int("ML_TRAINING_SOFT_TIME_LIMIT", default=3600)
# torch intra-op threads of a training run; 0: OMP_NUM_THREADS when set, else every core of the process.
ML_TRAINING_CPU_THREADS = env.int("ML_TRAINING_CPU_THREADS", default=0)
# Workers keep the memory they free for their next allocations instead of returning it to the kernel
# (ml.device.keep_freed_memory): batched CNN inference on the CPU ran 1.5-2x faster with it, at the cost of each worker
# keeping its peak memory. false: glibc's defaults.
ML_KEEP_FREED_MEMORY = env.bool("ML_KEEP_FREED_MEMORY", default=True)
ML_TRAINING_TIME_LIMIT = env.int("ML_TRAINING_TIME_LIMIT", default=3900)
# The most memory a training run may be predicted to need at its peak (ml.memory): bytes, a size (12G, 512MiB) or a
# share of the host (70%); empty: 70 % of the host's memory, or of the container's limit. A larger run fails at once
# with what it needs, instead of being killed by the kernel halfway.
ML_MEMORY_LIMIT_BYTES = memory_limit_bytes(env.str("ML_MEMORY_LIMIT", default=""))
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # An unacknowledged message (acks_late) returns to the queue after this long; keep it longer than any
    # task may run so a slow training is never delivered twice while it still runs.
    # Short connect/read timeouts: a dispatch during an outage fails in about a second (503) instead of hanging.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": ML_TRAINING_TIME_LIMIT + 600, "socket_connect_timeout": 2, "socket_timeout": 10}

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = Queue.DEFAULT.value
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing gives up after one quick retry (apps.core.outages.broker_send turns that into a 503); workers keep
# reconnecting forever (broker_connection_max_retries) and /healthz counts them only once they consume again.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Beat reapers re-dispatch rows still `queued` (training runs, upload checks, traffic jobs, pending inspection
# images) this long after they were created: their broker message was lost (an outage, a flushed Redis).
REDISPATCH_QUEUED_AFTER_SECONDS = env.int("REDISPATCH_QUEUED_AFTER_SECONDS", default=300)
# Routes by task name; a product app adds its tasks here (apps never import platform_).
CELERY_TASK_ROUTES = {
    "mlops.train_run": {"queue": Queue.ML_GPU.value},
    "mlops.check_upload": {"queue": Queue.ML_CPU.value},
    "recommendations.*": {"queue": Queue.ML_CPU.value},
    "traffic.process_job": {"queue": Queue.ML_GPU.value},
    # A stream session runs until stopped: on ml_gpu it would hold the slot that training and inspection need.
    "traffic.process_stream": {"queue": Queue.STREAMS.value},
    "inspection.inspect_pending": {"queue": Queue.ML_GPU.value},
    "inspection.*": {"queue": Queue.DEFAULT.value},
    "*": {"queue": Queue.DEFAULT.value},
}
# Loading an uploaded weights file to check it (in a worker, never in the web process).
MLOPS_UPLOAD_CHECK_SOFT_TIME_LIMIT = env.int("MLOPS_UPLOAD_CHECK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_ANNOTATIONS = {
    "mlops.check_upload": {"soft_time_limit": MLOPS_UPLOAD_CHECK_SOFT_TIME_LIMIT, "time_limit": MLOPS_UPLOAD_CHECK_SOFT_TIME_LIMIT + 60},
    "inspection.inspect_pending": {"soft_time_limit": 240, "time_limit": 300},
    "inspection.send_callback": {"soft_time_limit": 30, "time_limit": 60},
    "mlops.train_run": {
        "soft_time_limit": ML_TRAINING_SOFT_TIME_LIMIT,
        "time_limit": ML_TRAINING_TIME_LIMIT,
    },
    "recommendations.precompute_top_n": {"soft_time_limit": 1800, "time_limit": 1900},
    # A video job checkpoints as it goes: at the soft limit it re-queues itself and continues from its checkpoint.
    "traffic.process_job": {
        "soft_time_limit": env.int("TRAFFIC_JOB_SOFT_TIME_LIMIT", default=3600),
        "time_limit": env.int("TRAFFIC_JOB_SOFT_TIME_LIMIT", default=3600) + 300,
    },
    "traffic.process_stream": {
        "soft_time_limit": env.int("TRAFFIC_JOB_SOFT_TIME_LIMIT", default=3600),
        "time_limit": env.int("TRAFFIC_JOB_SOFT_TIME_LIMIT", default=3600) + 300,
    },
}
CELERY_BEAT_SCHEDULE = {
    "mlops-reap-stale-runs": {"task": "mlops.reap_stale_runs", "schedule": 30.0},
    "mlops-start-scheduled-retraining": {"task": "mlops.start_scheduled_retraining", "schedule": 60.0},
    "recommendations-refresh-precomputed": {"task": "recommendations.refresh_precomputed", "schedule": 300.0},
    "traffic-resume-stale-jobs": {"task": "traffic.resume_stale_jobs", "schedule": 30.0},
    "inspection-requeue-stale": {"task": "inspection.requeue_stale", "schedule": 120.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- ML platform ----------------------------------------------------------------------------------------
ARTIFACT_STORE_URI = env.str("ARTIFACT_STORE_URI", default=(VAR_DIR / "artifacts").as_uri())
# A running training run whose worker has not written a heartbeat for this long is marked failed.
MLOPS_STALE_RUN_SECONDS = env.int("MLOPS_STALE_RUN_SECONDS", default=120)
MLOPS_HEARTBEAT_SECONDS = env.int("MLOPS_HEARTBEAT_SECONDS", default=10)
# Largest weights file an operator may upload to the registry.
MLOPS_MAX_UPLOAD_BYTES = env.int("MLOPS_MAX_UPLOAD_MB", default=2048) * 1024 * 1024
# How long a process trusts its idea of which version is in production before asking the database again.
MLOPS_SERVING_REFRESH_SECONDS = env.float("MLOPS_SERVING_REFRESH_SECONDS", default=2.0)

# --- recommendations ------------------------------------------------------------------------------------
# Batch top-N per active customer (a customer with events in the last RECOMMENDATIONS_ACTIVE_DAYS days).
RECOMMENDATIONS_PRECOMPUTE_N = env.int("RECOMMENDATIONS_PRECOMPUTE_N", default=100)
RECOMMENDATIONS_ACTIVE_DAYS = env.int("RECOMMENDATIONS_ACTIVE_DAYS", default=30)
RECOMMENDATIONS_PRECOMPUTE_EVERY_MINUTES = env.int("RECOMMENDATIONS_PRECOMPUTE_EVERY_MINUTES", default=60)
# Serving keeps the catalog (titles, prices, stock, categories) in process memory and re-checks it this often.
RECOMMENDATIONS_CATALOG_REFRESH_SECONDS = env.float("RECOMMENDATIONS_CATALOG_REFRESH_SECONDS", default=5.0)
# --- Outbound webhooks (apps.core.webhooks) -------------------------------------------------------------------
# Off in production: a callback URL given through the API may not reach loopback, private or link-local addresses.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False)
# --- Traffic monitoring -----------------------------------------------------------------------------------------
TRAFFIC_MAX_UPLOAD_BYTES = env.int("TRAFFIC_MAX_UPLOAD_MB", default=2048) * 1024 * 1024
# A running job whose worker wrote no checkpoint/heartbeat for this long is re-queued to resume from its checkpoint.
TRAFFIC_STALE_JOB_SECONDS = env.int("TRAFFIC_STALE_JOB_SECONDS", default=60)
TRAFFIC_MAX_ATTEMPTS = env.int("TRAFFIC_MAX_ATTEMPTS", default=5)
# Counts, tracks and the checkpoint are written at least this often (and at every crossing or event).
TRAFFIC_CHECKPOINT_SECONDS = env.float("TRAFFIC_CHECKPOINT_SECONDS", default=2.0)
TRAFFIC_STREAM_MAX_RETRIES = env.int("TRAFFIC_STREAM_MAX_RETRIES", default=5)
TRAFFIC_STREAM_BACKOFF_SECONDS = env.float("TRAFFIC_STREAM_BACKOFF_SECONDS", default=1.0)
TRAFFIC_STREAM_BACKOFF_MAX_SECONDS = env.float("TRAFFIC_STREAM_BACKOFF_MAX_SECONDS", default=60.0)
# Stream sessions write their annotated video in segments of this length; the camera page plays the latest.
TRAFFIC_STREAM_SEGMENT_SECONDS = env.float("TRAFFIC_STREAM_SEGMENT_SECONDS", default=300.0)
TRAFFIC_STREAM_SEGMENTS_KEPT = env.int("TRAFFIC_STREAM_SEGMENTS_KEPT", default=12)
# Events (stopped vehicle, wrong way, congestion) are POSTed as JSON here when set (task on the default queue).
TRAFFIC_EVENT_WEBHOOK_URL = env.str("TRAFFIC_EVENT_WEBHOOK_URL", default="")
TRAFFIC_WEBHOOK_TIMEOUT_SECONDS = env.float("TRAFFIC_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Stream URLs (rtsp, rtsps, http, https) must resolve to public addresses, checked at submit and again when the worker
# connects; a private camera network is allowed wholesale (true) or by CIDR list (e.g. 10.20.0.0/16,192.168.8.0/24).
TRAFFIC_ALLOW_PRIVATE_STREAMS = env.bool("TRAFFIC_ALLOW_PRIVATE_STREAMS", default=False)
# Parsed here so that a mistyped network fails at start-up, not on the first stream.
TRAFFIC_STREAM_ALLOWED_NETWORKS = [str(ipaddress.ip_network(c, strict=False)) for c in env.list("TRAFFIC_STREAM_ALLOWED_NETWORKS", default=[])]
# An uploaded video is probed (opened, first frame decoded) by the worker in a child process with this time limit.
TRAFFIC_PROBE_TIME_LIMIT_SECONDS = env.float("TRAFFIC_PROBE_TIME_LIMIT_SECONDS", default=60.0)
# --- Defect inspection ----------------------------------------------------------------------------------
INSPECTION_MAX_UPLOAD_BYTES = env.int("INSPECTION_MAX_UPLOAD_MB", default=20) * 1024 * 1024
INSPECTION_MAX_IMAGE_SIDE = env.int("INSPECTION_MAX_IMAGE_SIDE", default=8192)
INSPECTION_MIN_IMAGE_SIDE = env.int("INSPECTION_MIN_IMAGE_SIDE", default=16)
INSPECTION_MAX_PIXELS = env.int("INSPECTION_MAX_PIXELS", default=40_000_000)
INSPECTION_MAX_FILES_PER_REQUEST = env.int("INSPECTION_MAX_FILES_PER_REQUEST", default=32)
# Images one inference pass takes from the queue (several per forward pass when they pile up).
INSPECTION_BATCH_SIZE = env.int("INSPECTION_BATCH_SIZE", default=16)
# torch threads for inspection inference on a CPU worker; 0: every core but one for a single image, every core for a
# batch of images that waited (ml.device.inference_cpu_threads).
INSPECTION_CPU_THREADS = env.int("INSPECTION_CPU_THREADS", default=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
