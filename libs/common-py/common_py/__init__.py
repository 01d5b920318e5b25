"""Shared plumbing for every service (SPEC §2): settings, logs, bus, db, unit of work, storage."""
