"""Test-only: a minimal Avro object container file writer (the SDK ships only a reader).

Writes what Azure's change feed chunks hold: one schema, codec "null", blocks of records, each
block followed by the 16-byte sync marker (Avro 1.x spec, "Object Container Files"). Supports the
types the change feed schema uses: null, boolean, int, long, double, string, bytes, enum, record,
map, array and unions. Encoding is checked by reading the bytes back with the SDK's own reader
(azure.storage.blob._shared.avro) in tests/test_changefeed.py.
"""
from __future__ import annotations

import json
import struct
from typing import Any

MAGIC = b"Obj\x01"


def _long(n: int) -> bytes:
    """Zig-zag varint, as Avro encodes int and long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes(b: bytes) -> bytes:
    return _long(len(b)) + b


def _matches(schema: Any, value: Any) -> bool:
    kind = schema if isinstance(schema, str) else schema["type"]
    return {"null": value is None, "boolean": isinstance(value, bool),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "long": isinstance(value, int) and not isinstance(value, bool),
            "double": isinstance(value, float), "string": isinstance(value, str),
            "bytes": isinstance(value, bytes), "enum": isinstance(value, str),
            "record": isinstance(value, dict), "map": isinstance(value, dict),
            "array": isinstance(value, list)}[kind]


def encode(schema: Any, value: Any) -> bytes:
    if isinstance(schema, list):  # union: index of the first branch that fits, then the value
        for index, branch in enumerate(schema):
            if _matches(branch, value):
                return _long(index) + encode(branch, value)
        raise ValueError(f"no union branch of {schema} fits {value!r}")
    kind = schema if isinstance(schema, str) else schema["type"]
    if kind == "null":
        return b""
    if kind == "boolean":
        return b"\x01" if value else b"\x00"
    if kind in ("int", "long"):
        return _long(value)
    if kind == "double":
        return struct.pack("<d", value)
    if kind == "string":
        return _bytes(value.encode())
    if kind == "bytes":
        return _bytes(value)
    if kind == "enum":
        return _long(schema["symbols"].index(value))
    if kind == "record":
        return b"".join(encode(f["type"], value.get(f["name"])) for f in schema["fields"])
    if kind == "map":
        items = b"".join(_bytes(k.encode()) + encode(schema["values"], v) for k, v in value.items())
        return (_long(len(value)) + items if value else b"") + b"\x00"
    if kind == "array":
        items = b"".join(encode(schema["items"], v) for v in value)
        return (_long(len(value)) + items if value else b"") + b"\x00"
    raise ValueError(f"unsupported Avro type {kind}")


def container_file(schema: dict, records: list[dict], block_size: int = 2,
                   sync: bytes = b"medicapp-sync-16") -> bytes:
    """An Avro object container file holding `records`, `block_size` records per block."""
    assert len(sync) == 16
    meta = {"avro.schema": json.dumps(schema).encode(), "avro.codec": b"null"}
    header = MAGIC + encode({"type": "map", "values": "bytes"}, meta) + sync
    blocks = []
    for start in range(0, len(records), block_size):
        chunk = records[start:start + block_size]
        data = b"".join(encode(schema, r) for r in chunk)
        blocks.append(_long(len(chunk)) + _long(len(data)) + data + sync)
    return header + b"".join(blocks)
