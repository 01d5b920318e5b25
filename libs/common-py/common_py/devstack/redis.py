"""Redis: REDIS_URL if it answers; else a local `redis-server` (no persistence) under DATA_ROOT."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis


class RedisUnavailable(RuntimeError):
    pass


def probe(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"does not answer ({exc})"
    return None


def start_local(url: str, run_dir: Path, log_dir: Path) -> dict:
    if shutil.which("redis-server") is None:
        raise RedisUnavailable(
            f"Redis does not answer at {url} and redis-server is not installed. Install it "
            "(Debian/Ubuntu: `apt-get install redis-server`), or point REDIS_URL at a running server."
        )
    port = urlsplit(url).port or 6379
    pidfile = run_dir / "redis.pid"
    log_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
                    "--save", "", "--appendonly", "no", "--dir", str(run_dir),
                    "--pidfile", str(pidfile), "--logfile", str(log_dir / "redis.log")],
                   check=True, capture_output=True, text=True)
    deadline = time.monotonic() + 20
    while (why := probe(url)) is not None:
        if time.monotonic() > deadline:
            raise RedisUnavailable(f"started redis-server but {url} {why}")
        time.sleep(0.2)
    return {"pidfile": str(pidfile), "port": port}


def stop_local(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # shutting down closes the connection: that is success
