"""Glob patterns as Pachyderm reads them, matched in time linear in the path.

The pattern is cleaned first (``""`` -> ``/``, a missing leading ``/`` added, a trailing
``/`` dropped) and matched against whole paths. ``*`` and ``?`` stay inside one path
segment, ``**`` crosses segments, ``[abc]``/``[!abc]`` are classes, ``{a,b}`` are
alternatives and ``(...)`` are capture groups (``$1`` in ``join_on``/``group_by``).

A backtracking regex takes time exponential in the number of wildcards that can match the
same characters (``/**a**a**a**b`` against a long name). So a pattern becomes a Python
regex only when no two of its wildcards compete for characters (at most one ``*`` per
segment and no ``**``, or one ``**`` and no ``*``), which covers the usual globs. Any other
pattern runs on a small matcher that visits each (pattern position, path position) pair at
most once, with the regex's leftmost-first preference, so it finds the same match and the
same groups. Patterns are also limited in length and in ``**``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from raypachy.errors import InvalidGlobError

MAX_PATTERN = 512
MAX_DOUBLE_STARS = 8


class GlobMatch(Protocol):
    """A successful match (an ``re.Match`` or the linear matcher's): ``group(0)`` is the
    path, ``group(n)`` capture group ``n`` (None if it took no part; IndexError past the
    last)."""

    def group(self, index: int, /) -> str | Any: ...

    def groups(self) -> tuple[str | Any, ...]: ...


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


# --- parsing: one tree for both matchers ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Char:
    regex: str  # a one-character regex: an escaped literal, a class, "[^/]" or "."


@dataclass(frozen=True, slots=True)
class _Star:
    char: _Char  # zero or more of it, as many as possible first


@dataclass(frozen=True, slots=True)
class _Alt:
    options: tuple[tuple[_Node, ...], ...]
    group: int  # its capture group number, 0 for a brace (no capture)


_Node = _Char | _Star | _Alt
_SEGMENT = _Char("[^/]")
_ANY = _Char(".")


@dataclass
class _Frame:
    options: list[list[_Node]]
    group: int
    closer: str


def _class(pattern: str, i: int, raw: str) -> tuple[_Char, int]:
    end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
    if end == -1:
        raise InvalidGlobError(f"invalid glob {raw!r}: '[' at position {i} is never closed")
    body = pattern[i + 1 : end]
    negate = body[:1] in ("!", "^")
    body = body[1:] if negate else body
    escaped = "".join("\\" + c if c in "\\^[]" else c for c in body)
    regex = f"[^/{escaped}]" if negate else f"[{escaped}]"
    try:
        re.compile(regex)
    except re.error as e:
        raise InvalidGlobError(f"invalid glob {raw!r}: {e}") from None
    return _Char(regex), end


def _parse(pattern: str, raw: str) -> tuple[tuple[_Node, ...], int, bool]:
    """(nodes, capture groups, whether a '/' can occur inside braces, groups or classes)."""
    root = _Frame([[]], 0, "")
    stack = [root]
    groups = 0
    hidden_slash = False
    i, n = 0, len(pattern)
    while i < n:
        ch, top = pattern[i], stack[-1]
        out = top.options[-1]
        if ch == "*":
            if pattern.startswith("**", i):
                out.append(_Star(_ANY))
                i += 2
                continue
            out.append(_Star(_SEGMENT))
        elif ch == "?":
            out.append(_SEGMENT)
        elif ch == "[":
            char, i = _class(pattern, i, raw)
            hidden_slash |= not char.regex.startswith("[^/") and "/" in char.regex
            out.append(char)
        elif ch in "{(":
            if ch == "(":
                groups += 1
            stack.append(_Frame([[]], groups if ch == "(" else 0, "}" if ch == "{" else ")"))
        elif ch in "})":
            if top.closer != ch:
                opener = "{" if ch == "}" else "("
                raise InvalidGlobError(
                    f"invalid glob {raw!r}: '{ch}' at position {i} has no '{opener}'"
                )
            stack.pop()
            stack[-1].options[-1].append(_Alt(tuple(map(tuple, top.options)), top.group))
        elif ch == "," and any(f.closer == "}" for f in stack):
            top.options.append([])
        else:
            if ch == "\\" and i + 1 < n:
                i += 1
                ch = pattern[i]
            hidden_slash |= ch == "/" and len(stack) > 1
            out.append(_Char(re.escape(ch)))
        i += 1
    if len(stack) > 1:
        raise InvalidGlobError(f"invalid glob {raw!r}: an opening '{{' or '(' is never closed")
    return tuple(root.options[0]), groups, hidden_slash


def _regex(nodes: tuple[_Node, ...]) -> str:
    out = []
    for node in nodes:
        if isinstance(node, _Char):
            out.append(node.regex)
        elif isinstance(node, _Star):
            out.append(node.char.regex + "*")
        else:
            body = "|".join(_regex(option) for option in node.options)
            out.append(f"({body})" if node.group else f"(?:{body})")
    return "".join(out)


def _competing(nodes: tuple[_Node, ...], hidden_slash: bool) -> bool:
    """Whether two wildcards could fight over the same characters (regex backtracking)."""
    stars = [0]  # '*' per segment
    doubles = singles = 0

    def walk(items: tuple[_Node, ...]) -> None:
        nonlocal doubles, singles
        for node in items:
            if isinstance(node, _Star):
                if node.char is _ANY:
                    doubles += 1
                else:
                    singles += 1
                    stars[-1] += 1
            elif isinstance(node, _Alt):
                for option in node.options:
                    walk(option)
            elif node.regex == "/":
                stars.append(0)

    walk(nodes)
    if hidden_slash:
        return doubles + singles > 1
    return doubles > 1 or (doubles == 1 and singles > 0) or max(stars) > 1


# --- the linear matcher ------------------------------------------------------------------


_RUN, _SPLIT, _JUMP, _SAVE, _MATCH = range(5)
_Test = Callable[[str, int], "re.Match[str] | None"]


def _compile(nodes: tuple[_Node, ...]) -> list[tuple[int, _Test | None, int]]:
    """A program of (op, test, target): a run of single characters tested at once (a
    regex without quantifiers; ``target`` is its width), a split that tries the next
    instruction first and ``target`` second, a jump, a saved position, the end."""
    prog: list[tuple[int, _Test | None, int]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            prog.append((_RUN, re.compile("".join(run), re.DOTALL).match, len(run)))
            run.clear()

    def emit(items: tuple[_Node, ...]) -> None:
        for node in items:
            if isinstance(node, _Char):
                run.append(node.regex)
                continue
            flush()
            if isinstance(node, _Star):
                loop = len(prog)
                prog.append((_SPLIT, None, -1))  # greedy: one more character first
                prog.append((_RUN, re.compile(node.char.regex, re.DOTALL).match, 1))
                prog.append((_JUMP, None, loop))
                prog[loop] = (_SPLIT, None, len(prog))
                continue
            if node.group:
                prog.append((_SAVE, None, 2 * node.group))
            jumps = []
            for k, option in enumerate(node.options):
                last = k == len(node.options) - 1
                split = len(prog)
                if not last:
                    prog.append((_SPLIT, None, -1))
                emit(option)
                flush()
                if not last:
                    jumps.append(len(prog))
                    prog.append((_JUMP, None, -1))
                    prog[split] = (_SPLIT, None, len(prog))
            for at in jumps:
                prog[at] = (_JUMP, None, len(prog))
            if node.group:
                prog.append((_SAVE, None, 2 * node.group + 1))

    emit(nodes)
    flush()
    prog.append((_MATCH, None, 0))
    return prog


@dataclass(frozen=True, slots=True)
class _Found:
    path: str
    spans: tuple[int, ...]

    def group(self, index: int = 0, /) -> str | None:
        if index == 0:
            return self.path
        if not 0 < index <= len(self.spans) // 2:
            raise IndexError("no such group")
        start, end = self.spans[2 * index - 2], self.spans[2 * index - 1]
        return None if start < 0 or end < 0 else self.path[start:end]

    def groups(self) -> tuple[str | None, ...]:
        return tuple(self.group(i) for i in range(1, len(self.spans) // 2 + 1))


class _Matcher:
    """Backtracking over the program, never twice from one (instruction, position)."""

    def __init__(self, nodes: tuple[_Node, ...], groups: int) -> None:
        self.prog = _compile(nodes)
        self.groups = groups

    def match(self, path: str) -> _Found | None:
        prog, n = self.prog, len(path)
        width = n + 1
        seen = bytearray(len(prog) * width)
        caps = [-1] * (2 * self.groups + 2)
        stack: list[tuple[int, int, int]] = [(0, 0, -1)]  # (pc, pos, -1) or (slot, old, 1)
        while stack:
            pc, pos, restore = stack.pop()
            if restore == 1:
                caps[pc] = pos
                continue
            while True:
                if seen[pc * width + pos]:
                    break
                seen[pc * width + pos] = 1
                op, test, target = prog[pc]
                if op == _RUN:
                    if pos + target <= n and test(path, pos):  # type: ignore[misc]
                        pc, pos = pc + 1, pos + target
                        continue
                    break
                if op == _SPLIT:
                    stack.append((target, pos, -1))
                    pc += 1
                elif op == _JUMP:
                    pc = target
                elif op == _SAVE:
                    stack.append((target, caps[target], 1))
                    caps[target] = pos
                    pc += 1
                elif pos == n:  # _MATCH, and the whole path is used
                    return _Found(path, tuple(caps[2:]))
                else:
                    break
        return None


class GlobPattern:
    """A compiled glob; ``match(path)`` gives a ``GlobMatch`` or None."""

    def __init__(self, pattern: str, nodes: tuple[_Node, ...], groups: int, fast: bool) -> None:
        self.pattern = pattern
        self.groups = groups
        self._regex = re.compile(_regex(nodes) + r"\Z", re.DOTALL) if fast else None
        self._matcher = None if fast else _Matcher(nodes, groups)

    def match(self, path: str) -> GlobMatch | None:
        if self._regex is not None:
            return self._regex.match(path)
        assert self._matcher is not None
        return self._matcher.match(path)


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> GlobPattern:
    """Compile a cleaned or raw pattern; ``InvalidGlobError`` names what is wrong."""
    raw = pattern
    if len(pattern) > MAX_PATTERN:
        raise InvalidGlobError(
            f"invalid glob {raw[:40]!r}...: longer than {MAX_PATTERN} characters"
        )
    if pattern.count("**") > MAX_DOUBLE_STARS:
        raise InvalidGlobError(f"invalid glob {raw!r}: more than {MAX_DOUBLE_STARS} '**'")
    pattern = clean_pattern(pattern)
    nodes, groups, hidden_slash = _parse(pattern, raw)
    return GlobPattern(pattern, nodes, groups, fast=not _competing(nodes, hidden_slash))


def glob_match(pattern: str, path: str) -> GlobMatch | None:
    """Match a path (``/dir`` for a directory) against a pattern.

    The root ``/`` is matched only by the pattern ``/`` (``/*`` means the entries in it).
    """
    regex = compile_glob(pattern)
    if path == "/" and clean_pattern(pattern) != "/":
        return None
    return regex.match(path)
