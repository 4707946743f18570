"""gunicorn settings for every service's web process (values from the environment).

Used by `make run` (deploy/Procfile, which passes --bind) and by the image (deploy/entrypoint.sh).

    WEB_CONCURRENCY            worker processes (default 2; the image sets 1: scale pods, not
                               processes, so that each pod's /metrics covers all of its requests)
    GUNICORN_THREADS           threads per worker process (gthread; default 4)
    GUNICORN_TIMEOUT           seconds a request may take before its worker is restarted (30)
    GUNICORN_GRACEFUL_TIMEOUT  seconds to finish requests in flight after SIGTERM (20)
    GUNICORN_KEEPALIVE         seconds to hold an idle keep-alive connection (5)
    GUNICORN_MAX_REQUESTS      recycle a worker after this many requests (0: never), with jitter
    GUNICORN_ACCESSLOG         where access lines go ("-": stdout; "" disables)
    GUNICORN_LOGLEVEL          gunicorn's own log level (info)
    GUNICORN_LIMIT_REQUEST_LINE        longest request line (8190 bytes, gunicorn's ceiling) -> 414
    GUNICORN_LIMIT_REQUEST_FIELDS      most header fields (100) -> 431
    GUNICORN_LIMIT_REQUEST_FIELD_SIZE  longest header field (8190 bytes) -> 431
    FORWARDED_ALLOW_IPS        proxies trusted for X-Forwarded-* (default 127.0.0.1)

Errors gunicorn answers itself (the limits above, a malformed request line or header) are
problem+json like the app's. The access log masks phone numbers and token-like query parameters.
"""

import contextlib
import json
import logging
import os
import time
from urllib.parse import parse_qsl, urlencode

from gunicorn import util
from gunicorn.glogging import Logger

from ecom_common.errors import problem_for_status
from ecom_common.privacy import scrub


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


workers = _int("WEB_CONCURRENCY", 2)
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30)
# SIGTERM: stop accepting, finish the requests in flight for up to this long, then exit. Keep it
# below the orchestrator's grace period (k8s terminationGracePeriodSeconds, compose stop_grace_period).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
# Apps are created after the fork (no preload): no database pool or broker connection is shared
# between worker processes.
preload_app = False
# The worker heartbeat file on tmpfs: the container filesystem may be read-only or slow overlayfs.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-") or None
errorlog = "-"
# The request line at gunicorn's ceiling (its default is half that), so that long list queries reach
# the app; past these limits gunicorn answers itself, as problem+json (_problem_page below).
limit_request_line = _int("GUNICORN_LIMIT_REQUEST_LINE", 8190)
limit_request_fields = _int("GUNICORN_LIMIT_REQUEST_FIELDS", 100)
limit_request_field_size = _int("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", 8190)


def _problem_page(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own error answer (414, 431, a bad request line or header, a 500 it caught) as
    problem+json instead of its HTML page. Its workers answer every such error through
    `gunicorn.util.write_error(sock, status_int, reason, mesg)`, replaced by this one below."""
    body = json.dumps(problem_for_status(status_int, reason, mesg or reason).to_dict(), ensure_ascii=False).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _problem_page

# Documentation of the access line's fields; the JSON itself is built by JsonLogger below.
access_log_format = (
    '{"log":"access","remote":"%(h)s","method":"%(m)s","path":"%(U)s","query":"%(q)s",'
    '"status":%(s)s,"bytes":"%(B)s","duration_ms":%(M)s,"request_id":"%({x-request-id}o)s"}'
)


class JsonFormatter(logging.Formatter):
    """gunicorn's own messages (boot, worker exits, timeouts) as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            # e.g. "Invalid request from ip=...: Invalid Request Line '<what the client sent>'"
            "event": scrub(record.getMessage()),
        }
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


# Query parameters whose value is a credential: written as "***".
SECRET_PARAMS = {
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "api_key",
    "apikey",
    "password",
    "secret",
    "signature",
}


def scrub_path(path: str) -> str:
    """WSGI hands the path over as latin-1 text of its bytes: read it as the UTF-8 it is, so that
    the masker sees the characters a client sent (full-width digits included)."""
    with contextlib.suppress(UnicodeError):
        path = path.encode("latin-1").decode("utf-8")
    return scrub(path)


def scrub_query(query: str) -> str:
    """Phones masked in names and values (decoded first: `139+8765+1234` is a phone with spaces),
    credentials replaced; re-encoded as it came."""
    pairs = parse_qsl(query, keep_blank_values=True, errors="replace")
    return urlencode(
        [(scrub(name), "***" if name.lower() in SECRET_PARAMS else scrub(value)) for name, value in pairs], safe="*"
    )


class JsonLogger(Logger):
    """Access log lines as real JSON (values escaped: a path or query may hold quotes), and
    gunicorn's error log as JSON, so that every line a web container writes parses. Personal data
    and credentials are masked, as in the app's own logs (ecom_common.privacy.scrub)."""

    def setup(self, cfg):
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        line = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "log": "access",
            "remote": atoms["h"],
            "method": atoms["m"],
            "path": scrub_path(atoms["U"]),
            "query": scrub_query(atoms["q"] or ""),
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"] or 0,
            "duration_ms": atoms["M"],
            "request_id": scrub(atoms.get("{x-request-id}o") or atoms.get("{x-request-id}i") or ""),
            "user_agent": scrub(atoms["a"]),
        }
        try:
            self.access_log.info(json.dumps(line, ensure_ascii=False))
        except Exception:
            self.exception("could not write the access log line")


logger_class = JsonLogger
