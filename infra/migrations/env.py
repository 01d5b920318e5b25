"""Alembic environment: the URL is POSTGRES_DSN, resolved like every service resolves it."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from common_py.db import sqlalchemy_url
from common_py.settings import CommonSettings

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.attributes.get("dsn") or CommonSettings().postgres_dsn


def run_migrations_offline() -> None:
    context.configure(url=sqlalchemy_url(url), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
