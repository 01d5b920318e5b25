"""python -m common_py.devstack {up,down,status,migrate}"""

from __future__ import annotations

import argparse
import logging
import sys

from dotenv import load_dotenv  # python-dotenv, declared in libs/common-py/requirements.txt

from common_py.devstack.services import REPO_ROOT
from common_py.devstack.stack import Stack

ENV_FILE = REPO_ROOT / ".env"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common_py.devstack",
        description="Bring the local infrastructure (Postgres+pgvector, RabbitMQ, Redis) up or down. "
        "What already answers at its configured address is used; what does not is started, and "
        "`down` stops only what `up` started.",
    )
    parser.add_argument("command", choices=["up", "down", "status", "migrate"])
    parser.add_argument("--infra-only", action="store_true", help="up: only Postgres, RabbitMQ, Redis and migrations")
    parser.add_argument("--only", default="", help="up: comma-separated services to start (default: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The ports, SERVICE_PORT_OFFSET and LOCAL_DATASET_DIR are read from the process environment
    # (and supervisord passes that environment on), so .env goes there, under what is already set.
    load_dotenv(ENV_FILE, override=False)
    stack = Stack()
    try:
        if args.command == "up":
            stack.up_infra()
            print(f"infrastructure up and migrated; addresses in {stack.run_dir / 'stack.env'}")
            if not stack.state.components["rabbitmq"].detail.get("management_console"):
                print("note: the RabbitMQ management console could not be enabled here")
            if not args.infra_only:
                only = {s for s in args.only.split(",") if s} or None
                not_ready = stack.up_services(only)
                for name, why in not_ready.items():
                    print(f"\n{name} is not ready: {why}\n--- last lines of data/logs/{name}.log ---\n"
                          f"{stack.supervisor.log_tail(name)}", file=sys.stderr)
                if not_ready:
                    return 1
            for name, line in stack.status().items():
                print(f"{name:9s} {line}")
        elif args.command == "down":
            stopped = stack.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing (nothing was started by make up)"))
        elif args.command == "status":
            for name, line in (stack.status() or {"stack": "not up"}).items():
                print(f"{name:9s} {line}")
        elif args.command == "migrate":
            from common_py.devstack.migrate import upgrade
            from common_py.settings import CommonSettings

            upgrade(CommonSettings().postgres_dsn)
            print("migrated to head")
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
