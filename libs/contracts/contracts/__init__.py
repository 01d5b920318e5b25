"""Event contracts: one JSON Schema per routing key (SPEC §3), validated by producers and consumers."""

from contracts.registry import (
    COMPLETION_KEYS,
    ROUTING_KEYS,
    ContractError,
    UnknownRoutingKey,
    schema_for,
    validate,
)

__all__ = [
    "COMPLETION_KEYS",
    "ROUTING_KEYS",
    "ContractError",
    "UnknownRoutingKey",
    "schema_for",
    "validate",
]
