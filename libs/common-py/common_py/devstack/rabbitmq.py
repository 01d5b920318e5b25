"""RabbitMQ: BUS_BROKER if it answers; else a local `rabbitmq-server` if installed (detached,
management plugin on); else a clear message saying what to install."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import time

import aio_pika

log = logging.getLogger("devstack.rabbitmq")


class RabbitUnavailable(RuntimeError):
    pass


def probe(url: str, timeout: float = 5.0) -> str | None:
    async def _try() -> None:
        conn = await aio_pika.connect(url, timeout=timeout)
        await conn.close()

    # a refused connection is the answer we are asking for, not an error worth aiormq's log line
    client_log = logging.getLogger("aiormq.connection")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        asyncio.run(asyncio.wait_for(_try(), timeout + 1))
    except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
        return f"does not answer ({type(exc).__name__}: {exc})"
    finally:
        client_log.setLevel(level)
    return None


def enable_management() -> bool:
    """Turn the management console on (idempotent; works on a running node we can reach)."""
    if shutil.which("rabbitmq-plugins") is None:
        return False
    result = subprocess.run(["rabbitmq-plugins", "enable", "--quiet", "rabbitmq_management"],
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        log.warning("could not enable rabbitmq_management: %s", result.stderr.strip()[:300])
        return False
    return True


def start_local(url: str, wait_s: float = 90.0) -> None:
    if shutil.which("rabbitmq-server") is None:
        raise RabbitUnavailable(
            f"RabbitMQ does not answer at {url} and rabbitmq-server is not installed. Install it "
            "(Debian/Ubuntu: `apt-get install rabbitmq-server`), or point BUS_BROKER at a running broker."
        )
    subprocess.run(["rabbitmq-server", "-detached"], check=True, capture_output=True, text=True)
    deadline = time.monotonic() + wait_s
    while (why := probe(url, timeout=2)) is not None:
        if time.monotonic() > deadline:
            raise RabbitUnavailable(f"started rabbitmq-server but {url} {why}")
        time.sleep(1)


def stop_local() -> None:
    if shutil.which("rabbitmqctl"):
        subprocess.run(["rabbitmqctl", "stop"], capture_output=True, text=True, timeout=120)
