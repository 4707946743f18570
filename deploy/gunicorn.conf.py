"""gunicorn settings for every service's web process (values from the environment)."""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# Apps are created after the fork (no preload): no database pool or broker connection is shared
# between worker processes.
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
access_log_format = (
    '{"log":"access","remote":"%(h)s","method":"%(m)s","path":"%(U)s","query":"%(q)s",'
    '"status":%(s)s,"bytes":"%(B)s","duration_ms":%(M)s,"request_id":"%({x-request-id}o)s"}'
)
