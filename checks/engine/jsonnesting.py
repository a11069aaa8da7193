"""How deep a JSON text nests, read before `json.loads` ever recurses: untrusted bodies (a queue message,
an authentication header) are refused on depth first, so `"[" * 60000` is an input error, never a
RecursionError."""
from __future__ import annotations


def json_nesting(text: str) -> int:
    """Deepest [ / { nesting outside strings, counted without parsing (no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
