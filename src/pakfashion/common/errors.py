"""Exceptions as the one-line texts that reports and ledgers record."""

from __future__ import annotations

import re

# "<_io.BytesIO object at 0x7f...>": the address differs between identical runs.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
MAX_CHARS = 300


def describe(err: BaseException, *, with_type: bool = True) -> str:
    """``Type: first line of the message``, without memory addresses, at most MAX_CHARS long."""
    text = str(err).strip()
    first = _ADDRESS.sub("", text.splitlines()[0]) if text else ""
    line = f"{type(err).__name__}: {first}" if with_type and first else first or type(err).__name__
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


class StageError(RuntimeError):
    """A known failure the user must act on: the stage logs this one line and exits 1, no traceback."""
