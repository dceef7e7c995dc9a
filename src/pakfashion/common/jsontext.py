"""JSON from the web, parsed with a depth limit: a hostile document is a malformed one, never a crash."""

from __future__ import annotations

import json
from typing import Any

# Real product JSON nests about 6 levels (products → variants → options); JSON-LD about 10.
MAX_DEPTH = 64


class JsonTooDeepError(ValueError):
    """The document nests deeper than allowed (or than Python's parser can follow)."""


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists/objects deeper than ``max_depth`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > max_depth:
                    return True
                stack.append((child, depth + 1))
    return False


def loads_limited(text: str, *, max_depth: int | None = MAX_DEPTH) -> Any:
    """``json.loads`` (control characters allowed, as real catalogs write them) with a depth limit.

    ``max_depth=None`` keeps only the parser's own limit (callers that check each entry themselves).

    Raises:
        json.JSONDecodeError: not JSON.
        JsonTooDeepError: nested deeper than ``max_depth``, or than Python's parser can follow.
    """
    try:
        data = json.loads(text, strict=False)
    except RecursionError as err:
        raise JsonTooDeepError("nested too deep to parse") from err
    if max_depth is not None and too_deep(data, max_depth):
        raise JsonTooDeepError(f"nested deeper than {max_depth} levels")
    return data
