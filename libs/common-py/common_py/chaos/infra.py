"""The broker and the database of a chaos run: a RabbitMQ node and an embedded Postgres of its own,
on free ports and under the run's folder, so that restarting them touches nobody else (the
machine's RabbitMQ and the tests' Postgres are shared by other people)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from common_py.devstack import postgres as pg
from common_py.devstack import rabbitmq


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _rabbit_bin(name: str) -> str | None:
    # the scripts themselves: /usr/sbin's wrappers switch to the rabbitmq user when run as root,
    # who cannot write the run's folder
    local = Path("/usr/lib/rabbitmq/bin") / name
    return str(local) if local.exists() else shutil.which(name)


class RabbitNode:
    """`rabbitmq-server -detached` as node chaos-<tag>@localhost, management API on."""

    def __init__(self, root: Path, tag: str):
        self.root = root
        self.node = f"chaos-{tag}@localhost"
        self.port, self.mgmt_port, self.dist_port = free_port(), free_port(), free_port()

    @staticmethod
    def available() -> bool:
        return _rabbit_bin("rabbitmq-server") is not None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.mgmt_port}/api"

    def _env(self) -> dict[str, str]:
        return dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.port),
                    RABBITMQ_DIST_PORT=str(self.dist_port), RABBITMQ_MNESIA_BASE=str(self.root / "mnesia"),
                    RABBITMQ_LOG_BASE=str(self.root / "log"), RABBITMQ_CONFIG_FILE=str(self.root / "rabbitmq"),
                    RABBITMQ_ENABLED_PLUGINS_FILE=str(self.root / "enabled_plugins"),
                    RABBITMQ_PID_FILE=str(self.root / "rabbit.pid"))

    def start(self, wait_s: float = 120.0) -> None:
        if not self.available():
            raise RuntimeError("rabbitmq-server is not installed (apt-get install rabbitmq-server): a chaos run "
                               "starts a broker of its own, which it may restart")
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            f"management.tcp.port = {self.mgmt_port}\nmanagement.tcp.ip = 127.0.0.1\n")
        (self.root / "enabled_plugins").write_text("[rabbitmq_management].\n")
        subprocess.run([_rabbit_bin("rabbitmq-server"), "-detached"], env=self._env(), check=True,
                       capture_output=True, text=True)
        deadline = time.monotonic() + wait_s
        while True:
            if rabbitmq.probe(self.url, timeout=2) is None and self._api_answers():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} did not come up; see {self.root / 'log'}")
            time.sleep(0.5)

    def _api_answers(self) -> bool:
        try:
            return httpx.get(self.api + "/overview", auth=("guest", "guest"), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """`rabbitmqctl stop` (waits for the node to go); the pid file's process if that fails."""
        result = subprocess.run([_rabbit_bin("rabbitmqctl"), "-n", self.node, "stop", str(self.root / "rabbit.pid")],
                                env=self._env(), capture_output=True, text=True, timeout=120)
        pidfile = self.root / "rabbit.pid"
        if result.returncode != 0 and pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass

    def restart(self) -> None:
        self.stop()
        self.start()


class PostgresNode(pg.EmbeddedPostgres):
    """The embedded PostgreSQL + pgvector of `make up`, in the run's folder on a free port."""

    def __init__(self, root: Path, database: str = "chaos"):
        super().__init__(root, free_port(), database)

    def restart(self) -> None:
        subprocess.run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "-t", "60",
                        "-l", str(self.log_file), "restart"],
                       check=True, capture_output=True, text=True, **self._run_as())
