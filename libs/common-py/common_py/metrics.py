"""Prometheus metrics every service exposes on /metrics (names shared so one dashboard fits all)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "events_total", "Events handled or published, by routing key and outcome "
    "(ok, duplicate, job_finished, retried, dead_lettered, published, publish_failed)", ["event_name", "outcome"])
HANDLERS_IN_FLIGHT = Gauge("handlers_in_flight", "Events being handled right now", ["event_name"])
HANDLER_SECONDS = Histogram(
    "handler_seconds", "Time spent handling one event", ["event_name"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
DLQ_DEPTH = Gauge("dlq_depth", "Messages waiting in a dead-letter queue", ["queue"])
OUTBOX_PENDING = Gauge("outbox_pending", "Outbox events committed but not yet published")
PHASE_STATE = Gauge("phase_state", "Jobs currently in each phase", ["phase"])
# Together these say "a job is stuck": the oldest job's time in a phase against that phase's timeout
# (ops/prom-rules alert before the orchestrator fails the job at the timeout).
PHASE_OLDEST = Gauge("phase_oldest_seconds", "Time the oldest job in each running phase has spent there "
                     "(0 when the phase is empty)", ["phase"])
PHASE_TIMEOUT = Gauge("phase_timeout_seconds", "Time a job may spend in each phase before it is failed", ["phase"])
MODEL_BATCH = Histogram("model_batch_size", "Items per model inference batch", ["model"],
                        buckets=(1, 2, 4, 8, 16, 32, 64, 128))
MODEL_SECONDS = Histogram("model_seconds", "Time per model inference batch", ["model"],
                          buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
