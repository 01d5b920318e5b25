"""A real service process for the crash and shutdown tests: `python worker_proc.py MODE`.

Consumes products.image.ready as service 'svc' (settings from the environment) and, per image:
  crash_after_commit  commit the effect, then die with SIGKILL before the ack
  crash_before_commit die with SIGKILL before committing anything (first delivery only)
  slow                take 2 s, then commit (SIGTERM arrives meanwhile)
  normal              commit
The effect is a row in t_effects, so the test counts effects in Postgres.
"""

import asyncio
import os
import signal
import sys
from pathlib import Path

from common_py.runtime import run_service
from common_py.settings import CommonSettings

MODE = sys.argv[1]
MARK = Path(os.environ["WORKER_MARK_DIR"])


def setup(rt):
    async def handler(event, ctx):
        image_id = event.payload["image_id"]
        (MARK / f"started-{image_id}-{os.getpid()}").touch()
        if MODE == "crash_before_commit" and event.attempt == 1 and not event.redelivered:
            os.kill(os.getpid(), signal.SIGKILL)
        if MODE == "slow":
            await asyncio.sleep(2)
        async with ctx.transaction() as tx:
            await tx.conn.execute("INSERT INTO t_effects VALUES ($1, $2)", event.job_id, image_id)
        if MODE == "crash_after_commit" and not event.redelivered:
            os.kill(os.getpid(), signal.SIGKILL)
        (MARK / f"done-{image_id}-{os.getpid()}").touch()

    rt.bus.subscribe("products.image.ready", handler)


if __name__ == "__main__":
    run_service("svc", CommonSettings(), setup)
