"""python -m common_py.devstack {up,down,status,migrate}"""

from __future__ import annotations

import argparse
import logging
import sys

from common_py.devstack.stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m common_py.devstack",
        description="Bring the local infrastructure (Postgres+pgvector, RabbitMQ, Redis) up or down. "
        "What already answers at its configured address is used; what does not is started, and "
        "`down` stops only what `up` started.",
    )
    parser.add_argument("command", choices=["up", "down", "status", "migrate"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stack = Stack()
    try:
        if args.command == "up":
            env = stack.up()
            for name, line in stack.status().items():
                print(f"{name:9s} {line}")
            print(f"migrated; addresses written to {stack.run_dir / 'stack.env'}")
            if not stack.state.components["rabbitmq"].detail.get("management_console"):
                print("note: the RabbitMQ management console could not be enabled here")
            del env
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
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
