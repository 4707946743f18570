"""Prometheus metrics shared by every service (labelled by service, so one registry serves tests
that run several services in one process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "ecom_http_requests_total", "HTTP requests handled", ["service", "method", "endpoint", "status"]
)
HTTP_LATENCY = Histogram(
    "ecom_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_HANDLED = Counter(
    "ecom_events_handled_total", "Events consumed, by outcome", ["service", "queue", "event", "outcome"]
)
EVENT_LATENCY = Histogram(
    "ecom_event_handle_duration_seconds",
    "Time to handle one event",
    ["service", "queue"],
)
CONSUMER_BATCH = Histogram(
    "ecom_consumer_batch_size",
    "Events committed together by one consumer transaction (a backlog)",
    ["service", "queue"],
    buckets=(2, 4, 8, 16, 32, 64),
)
OUTBOX_PUBLISHED = Counter("ecom_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_PENDING = Gauge("ecom_outbox_pending", "Outbox rows not yet published", ["service"])
JOB_RUNS = Counter("ecom_job_runs_total", "Scheduled job runs", ["service", "job", "outcome"])
