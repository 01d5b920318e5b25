"""`up` / `down` / `status` of the local infrastructure."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common_py.devstack import postgres, rabbitmq, redis
from common_py.devstack.migrate import upgrade
from common_py.devstack.services import Supervisor, parse_replicas, plan
from common_py.devstack.state import Component, StackState

log = logging.getLogger("devstack")


class StackSettings(BaseSettings):
    """What the user configured: environment and `.env` only. `data/run/stack.env` is our own
    output, so it must not feed back into the decision of what to start."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5433/product_video_matching"
    bus_broker: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/0"
    data_root: Path = Path("data")

    @field_validator("data_root", mode="before")
    @classmethod
    def _empty_is_default(cls, value):
        return value or "data"

    embedded_pg_port: int = Field(5433, description="port of the embedded PostgreSQL when one is needed")
    replicas: str = Field("", description="extra replicas, e.g. 'vision-embedding=2,vision-keypoint=2'")


class Stack:
    def __init__(self, settings: StackSettings | None = None):
        self.settings = settings or StackSettings()
        self.data_root = self.settings.data_root.resolve()
        self.run_dir = self.data_root / "run"
        self.log_dir = self.data_root / "logs"
        self.state = StackState.load(self.run_dir)
        self.supervisor = Supervisor(self.data_root)

    @property
    def embedded(self) -> postgres.EmbeddedPostgres:
        dbname = postgres.database_name(self.settings.postgres_dsn)
        if dbname == "postgres":
            dbname = "product_video_matching"
        return postgres.EmbeddedPostgres(self.data_root / "pg", self.settings.embedded_pg_port, dbname)

    # -- postgres -------------------------------------------------------------------------------
    def ensure_postgres(self) -> str:
        prev = self.state.components.get("postgres")
        embedded = self.embedded
        if prev and prev.started_by_us and embedded.is_running():
            postgres.ensure_database(prev.url)
            return prev.url
        why = postgres.probe(self.settings.postgres_dsn)
        if why is None:
            postgres.ensure_database(self.settings.postgres_dsn)
            self.state.components["postgres"] = Component(url=self.settings.postgres_dsn)
            return self.settings.postgres_dsn
        print(f"postgres: {self.settings.postgres_dsn} {why}; starting embedded PostgreSQL + pgvector "
              f"on 127.0.0.1:{embedded.port} (data in {embedded.pgdata})")
        embedded.start()
        self.state.components["postgres"] = Component(url=embedded.dsn, started_by_us=True,
                                                      detail={"pgdata": str(embedded.pgdata), "port": embedded.port})
        return embedded.dsn

    # -- rabbitmq -------------------------------------------------------------------------------
    def ensure_rabbitmq(self) -> str:
        url = self.settings.bus_broker
        prev = self.state.components.get("rabbitmq")
        why = rabbitmq.probe(url)
        if why is None:
            started = bool(prev and prev.started_by_us)
        else:
            print(f"rabbitmq: {url} {why}; starting the local rabbitmq-server")
            rabbitmq.start_local(url)
            started = True
        console = rabbitmq.enable_management()
        self.state.components["rabbitmq"] = Component(url=url, started_by_us=started,
                                                      detail={"management_console": console})
        return url

    # -- redis ----------------------------------------------------------------------------------
    def ensure_redis(self) -> str:
        url = self.settings.redis_url
        prev = self.state.components.get("redis")
        why = redis.probe(url)
        detail: dict = prev.detail if prev else {}
        started = bool(prev and prev.started_by_us)
        if why is not None:
            print(f"redis: {url} {why}; starting a local redis-server")
            detail = redis.start_local(url, self.run_dir, self.log_dir)
            started = True
        self.state.components["redis"] = Component(url=url, started_by_us=started, detail=detail)
        return url

    # -- lifecycle ------------------------------------------------------------------------------
    def up_infra(self) -> dict[str, str]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "POSTGRES_DSN": self.ensure_postgres(),
            "BUS_BROKER": self.ensure_rabbitmq(),
            "REDIS_URL": self.ensure_redis(),
        }
        self.state.save()
        self.state.write_env(env)
        upgrade(env["POSTGRES_DSN"])
        return env

    def up_services(self, only: set[str] | None = None, timeout_s: float = 240.0) -> dict[str, str]:
        """Start (or update) every service under supervisord and wait for their /readyz.
        Returns the processes that did not become ready, with why."""
        replicas = parse_replicas(self.settings.replicas)
        procs = plan(replicas, only)
        # the services that call another one find it where this plan puts it (ports move with
        # SERVICE_PORT_OFFSET): the matcher calls the vector-index, results-api the orchestrator
        port = {p.service.name: p.port for p in plan(replicas, {"orchestrator", "vector-index"})}
        stack_env = {"DATA_ROOT": str(self.data_root),
                     "ORCHESTRATOR_URL": f"http://127.0.0.1:{port['orchestrator']}",
                     "VECTOR_INDEX_URL": f"http://127.0.0.1:{port['vector-index']}"}
        stack_env.update({"POSTGRES_DSN": self.state.components["postgres"].url,
                          "BUS_BROKER": self.state.components["rabbitmq"].url,
                          "REDIS_URL": self.state.components["redis"].url})
        self.supervisor.start(procs, stack_env)
        return self.supervisor.wait_ready(procs, timeout_s)

    def down(self) -> list[str]:
        stopped = ["services"] if self.supervisor.stop() else []
        for name in ("redis", "rabbitmq", "postgres"):
            comp = self.state.components.get(name)
            if comp is None:
                continue
            if comp.started_by_us:
                if name == "postgres":
                    self.embedded.stop()
                elif name == "rabbitmq":
                    rabbitmq.stop_local()
                else:
                    redis.stop_local(comp.url)
                stopped.append(name)
            del self.state.components[name]
        self.state.save()
        env_file = self.run_dir / "stack.env"
        if env_file.exists():
            env_file.unlink()
        return stopped

    def status(self) -> dict[str, str]:
        out = {"services": self.supervisor.status()}
        for name, comp in self.state.components.items():
            probe = {"postgres": postgres.probe, "rabbitmq": rabbitmq.probe, "redis": redis.probe}[name]
            why = probe(comp.url)
            owner = "started by make up" if comp.started_by_us else "already running"
            out[name] = f"{comp.url} ({owner}): " + ("up" if why is None else why)
        return out
