"""Settings shared by every service, read from the environment (pydantic-settings).

Precedence: real environment variables, then ``$DATA_ROOT/run/stack.env`` (written by ``make up``
with the addresses of the infrastructure it found or started), then ``.env``. Services subclass
``CommonSettings`` in their ``config_loader.py`` to add their own fields.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=(".env", os.path.join(os.environ.get("DATA_ROOT") or "data", "run", "stack.env")),
        env_file_encoding="utf-8", extra="ignore",
    )

    postgres_dsn: str = Field(
        "postgresql://postgres@127.0.0.1:5433/product_video_matching",
        description="Postgres with pgvector. `make up` uses it if it answers and has pgvector, "
        "else starts an embedded PostgreSQL 18 + pgvector and writes its DSN to data/run/stack.env.",
    )
    db_pool_min: int = Field(1, ge=0)
    db_pool_max: int = Field(5, ge=1)

    bus_broker: str = Field("amqp://guest:guest@127.0.0.1:5672/", description="RabbitMQ URL")
    bus_exchange: str = Field("events", description="durable topic exchange every event goes through")
    bus_queue_prefix: str = Field("", description="prepended to every queue name (tests isolate runs with it)")
    bus_queue_expires_ms: int | None = Field(
        None, ge=1000, description="delete a queue that has had no consumer this long (x-expires); unset in "
        "production. Tests set it, so a killed test run leaves no quorum queues piling up in the broker")
    bus_prefetch: int = Field(8, ge=1, description="unacked messages a consumer holds at once")
    bus_max_attempts: int = Field(3, ge=1, description="attempts before a message goes to its DLQ")
    bus_retry_base_ms: int = Field(1000, ge=1, description="first retry delay; doubles per attempt")
    bus_outage_retry_s: float = Field(
        900.0, ge=0, description="how long a message whose handler could not reach Postgres keeps being retried "
        "(every <= 30 s) without using up its attempts: a database restart or outage delays work, never loses it")
    bus_shutdown_grace_s: float = Field(30.0, ge=0, description="time in-flight handlers get on SIGTERM")
    outbox_relay_interval_s: float = Field(5.0, gt=0, description="how often unpublished outbox rows are retried")

    redis_url: str = Field("redis://127.0.0.1:6379/0")
    data_root: Path = Field(Path("data"), description="root of every file the system writes")
    log_level: str = Field("INFO")
    http_host: str = Field("127.0.0.1", description="bind address of the service's HTTP port")
    http_port: int = Field(0, ge=0, le=65535, description="health/metrics (or API) port; 0 picks a free one")

    @field_validator("data_root", mode="before")
    @classmethod
    def _empty_is_default(cls, value):
        # DATA_ROOT="" (an exported but unset variable) must not mean the current directory
        return value or "data"
