"""Glob patterns as Pachyderm reads them.

The pattern is cleaned first (``""`` -> ``/``, a missing leading ``/`` added, a trailing
``/`` dropped) and matched against whole paths. ``*`` and ``?`` stay inside one path
segment, ``**`` crosses segments, ``[abc]``/``[!abc]`` are classes, ``{a,b}`` are
alternatives and ``(...)`` are capture groups (``$1`` in ``join_on``/``group_by``).
"""

from __future__ import annotations

import functools
import re

from raypachy.errors import InvalidGlobError


def clean_pattern(pattern: str) -> str:
    pattern = pattern.strip()
    if not pattern.startswith("/"):
        pattern = "/" + pattern
    if len(pattern) > 1:
        pattern = pattern.rstrip("/") or "/"
    return pattern


def literal_prefix(pattern: str) -> str:
    """The directory part of the pattern before its first special character."""
    for i, ch in enumerate(pattern):
        if ch in "*?[{(\\":
            return pattern[: pattern.rfind("/", 0, i) + 1]
    return pattern[: pattern.rfind("/") + 1]


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a cleaned or raw pattern; ``InvalidGlobError`` names what is wrong."""
    raw = pattern
    pattern = clean_pattern(pattern)
    out: list[str] = []
    i, n = 0, len(pattern)
    braces = parens = 0
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            if end == -1:
                raise InvalidGlobError(f"invalid glob {raw!r}: '[' at position {i} is never closed")
            body = pattern[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
            out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
            i = end
        elif ch == "{":
            braces += 1
            out.append("(?:")
        elif ch == "}":
            if braces == 0:
                raise InvalidGlobError(f"invalid glob {raw!r}: '}}' at position {i} has no '{{'")
            braces -= 1
            out.append(")")
        elif ch == "," and braces:
            out.append("|")
        elif ch == "(":
            parens += 1
            out.append("(")
        elif ch == ")":
            if parens == 0:
                raise InvalidGlobError(f"invalid glob {raw!r}: ')' at position {i} has no '('")
            parens -= 1
            out.append(")")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    if braces or parens:
        raise InvalidGlobError(f"invalid glob {raw!r}: an opening '{{' or '(' is never closed")
    try:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error as e:
        raise InvalidGlobError(f"invalid glob {raw!r}: {e}") from None


def glob_match(pattern: str, path: str) -> re.Match[str] | None:
    """Match a path (``/dir`` for a directory) against a pattern.

    The root ``/`` is matched only by the pattern ``/`` (``/*`` means the entries in it).
    """
    regex = compile_glob(pattern)
    if path == "/" and clean_pattern(pattern) != "/":
        return None
    return regex.match(path)
