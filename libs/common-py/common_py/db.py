"""asyncpg pool with the pgvector and JSON codecs registered on every connection."""

from __future__ import annotations

import json

import asyncpg
from pgvector.asyncpg import register_vector


class DatabaseNotReady(RuntimeError):
    pass


# Postgres is down, restarting or unreachable: the same work succeeds once it is back
_UNREACHABLE = (asyncpg.PostgresConnectionError, asyncpg.exceptions.AdminShutdownError,
                asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.CrashShutdownError)


def database_unreachable(exc: BaseException | None) -> bool:
    """Did this fail because the database could not be reached? asyncpg's connection errors
    anywhere in the chain of causes (a closed connection counts; a bad query or value does not),
    and a refused or reset connection raised as it is: that is how the pool fails to connect.
    A refused connection wrapped in another error (an HTTP client's) is that service's, not ours."""
    if isinstance(exc, (ConnectionRefusedError, ConnectionResetError)):
        return True
    while exc is not None:
        if isinstance(exc, _UNREACHABLE) or (isinstance(exc, asyncpg.InterfaceError)
                                             and "closed" in str(exc).lower()):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


async def _init_connection(conn: asyncpg.Connection) -> None:
    try:
        await register_vector(conn)
    except ValueError as exc:  # raised when the `vector` type does not exist
        raise DatabaseNotReady(
            "the pgvector extension is missing in this database: run `make up` (it migrates) or "
            "`make migrate`"
        ) from exc
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 5) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )


def sqlalchemy_url(dsn: str) -> str:
    """The same DSN for SQLAlchemy/Alembic (psycopg 3 driver)."""
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix):]
    return dsn


async def vector_dimension(pool: asyncpg.Pool) -> int | None:
    """The width of the embedding columns (fixed by EMBED_DIM at migration time); None before the
    schema exists."""
    return await pool.fetchval(
        "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'product_images'::regclass AND attname = 'emb_rgb'")
