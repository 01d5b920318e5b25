"""Registry from routing key to JSON Schema.

Each schema lives in ``schemas/<routing_key>.json``; the file name *is* the routing key, so adding
an event is adding one file. Validators are compiled once at import.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

_SCHEMA_DIR = resources.files("contracts") / "schemas"


class ContractError(ValueError):
    """A payload does not satisfy the schema of its routing key.

    ``field`` is the dotted path of the failing field ("" for the top-level object), so a log
    line or DLQ header says exactly which key and which field were wrong.
    """

    def __init__(self, routing_key: str, field: str, message: str):
        self.routing_key = routing_key
        self.field = field
        self.message = message
        where = f"field '{field}'" if field else "payload"
        super().__init__(f"{routing_key}: {where}: {message}")


class UnknownRoutingKey(ContractError):
    def __init__(self, routing_key: str):
        super().__init__(routing_key, "", "no schema is registered for this routing key")


def _load() -> dict[str, dict[str, Any]]:
    schemas = {}
    for entry in _SCHEMA_DIR.iterdir():
        if entry.name.endswith(".json"):
            schema = json.loads(entry.read_text())
            Draft202012Validator.check_schema(schema)
            schemas[entry.name[: -len(".json")]] = schema
    return schemas


_SCHEMAS = _load()
ROUTING_KEYS: frozenset[str] = frozenset(_SCHEMAS)
# Per-job completion events: the only events the phase manager acts on.
COMPLETION_KEYS: frozenset[str] = frozenset(k for k in ROUTING_KEYS if k.endswith(".completed"))


@lru_cache(maxsize=None)
def _validator(routing_key: str) -> Draft202012Validator:
    return Draft202012Validator(_SCHEMAS[routing_key], format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_for(routing_key: str) -> dict[str, Any]:
    if routing_key not in _SCHEMAS:
        raise UnknownRoutingKey(routing_key)
    return _SCHEMAS[routing_key]


def validate(routing_key: str, payload: Mapping[str, Any]) -> None:
    """Raise ContractError naming the routing key and the failing field, or return None."""
    if routing_key not in _SCHEMAS:
        raise UnknownRoutingKey(routing_key)
    error = best_match(_validator(routing_key).iter_errors(payload))
    if error is None:
        return
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        # jsonschema reports a missing key at its parent; name the missing key itself.
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
        message = "is required"
    elif error.validator == "pattern":
        message = f"{error.instance!r} is not {error.schema.get('description', 'in the expected format')}"
    else:
        message = error.message
    raise ContractError(routing_key, ".".join(p for p in path if p), message)
