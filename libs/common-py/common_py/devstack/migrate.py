"""Alembic, driven from Python so `make up`, tests and containers migrate the same way."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_dir() -> Path:
    configured = os.environ.get("MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    # libs/common-py/common_py/devstack/migrate.py -> repository root
    return Path(__file__).resolve().parents[4] / "infra" / "migrations"


def alembic_config(dsn: str) -> Config:
    cfg = Config(str(migrations_dir() / "alembic.ini"))
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["dsn"] = dsn
    return cfg


def upgrade(dsn: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(dsn), revision)


def downgrade(dsn: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(dsn), revision)
