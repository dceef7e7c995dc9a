"""Opt-outs a response carries: ``X-Robots-Tag`` directives forbidding AI use, for every agent or ours.

Each header line is a comma list of directives; ``name: directive`` starts the directives of agent
``name`` (they run to the end of that line), so ``otherbot: noai`` binds only otherbot while a plain
``noai`` binds everyone. Directives that take a value (``max-snippet: 20``, ``unavailable_after: <date>``)
are not agent names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

AI_OPT_OUT_DIRECTIVES = frozenset({"noai", "noimageai"})
# Directives written ``name: value`` (Google's list); anything else before a colon names an agent.
VALUED_DIRECTIVES = frozenset({"max-snippet", "max-image-preview", "max-video-preview", "unavailable_after"})
# ``agent: rest``: an agent name is one token (a date's "25 Jun 2010 15:00" has spaces).
_AGENT_PREFIX = re.compile(r"^\s*([a-z0-9._*-]+)\s*:\s*(.*)$")


def directives_by_agent(header_line: str) -> Iterable[tuple[str | None, str]]:
    """``(agent or None for all, directive)`` for each directive of one ``X-Robots-Tag`` line, lower case."""
    agent: str | None = None
    for part in header_line.lower().split(","):
        prefixed = _AGENT_PREFIX.match(part)
        if prefixed and prefixed.group(1) not in VALUED_DIRECTIVES:
            agent, part = prefixed.group(1), prefixed.group(2)
        yield agent, part.split(":", 1)[0].strip()


def forbids_ai_use(header_lines: Iterable[str], *, agent_token: str) -> bool:
    """Whether any ``X-Robots-Tag`` line says ``noai``/``noimageai`` to all agents (or ``*``) or to ``agent_token``."""
    ours = {None, "*", agent_token.lower()}
    return any(
        directive in AI_OPT_OUT_DIRECTIVES and agent in ours
        for line in header_lines
        for agent, directive in directives_by_agent(line)
    )
