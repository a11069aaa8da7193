"""Message facts of a stored record's texts (a drill's state, an incident record).

Such a record keeps its texts (summary, cleanup, events...) as English strings, readable in the
raw table; `facts_of` adds the message id and parameters of each text that is a Message, and
`with_facts` turns the texts back into Messages when the record is read, so a past drill or
incident renders in any language. A record written before (no facts) reads as stored.
"""
from __future__ import annotations

from typing import Any, Mapping

from checks.engine.i18n import Message, restored
from checks.engine.redact import redact_obj


def _fact(text: Message) -> dict[str, Any]:
    fact = text.as_fact()
    return {**fact, "params": redact_obj(fact["params"])}  # a counted text keeps its plural and count


def facts_of(fields: Mapping[str, Any]) -> dict[str, Any]:
    """{field: fact} for each Message, {field: [fact | None, ...]} for a list holding Messages."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, Message):
            out[name] = _fact(value)
        elif isinstance(value, list) and any(isinstance(item, Message) for item in value):
            out[name] = [_fact(item) if isinstance(item, Message) else None for item in value]
    return out


def with_facts(fields: dict[str, Any], facts: Any) -> dict[str, Any]:
    """`fields` with each text that has a usable fact a Message again (in place; returned)."""
    for name, fact in (facts if isinstance(facts, dict) else {}).items():
        value = fields.get(name)
        if isinstance(value, str) and isinstance(fact, dict):
            fields[name] = restored(value, fact)
        elif isinstance(value, list) and isinstance(fact, list) and len(fact) == len(value):
            fields[name] = [restored(item, one) if isinstance(item, str) and isinstance(one, dict) else item
                            for item, one in zip(value, fact)]
    return fields
