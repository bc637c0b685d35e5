"""Parsing pachctl-style addresses: ``repo``, ``repo@branch``, ``repo@id^2:/path``.

``^`` and ``^N`` go to ancestors (``~N`` works too); ``branch.N`` is the Nth commit of a
branch counted from its first (``master.1``), kept in ``ref``. ``ref`` is a branch name or a
commit id; which one is decided when it is resolved against the metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from raypachy.errors import InvalidAddressError
from raypachy.pfs.names import check_repo_name, normalize_path

_ADDRESS_RE = re.compile(
    r"^(?P<repo>[^@:^~]+)(?:@(?P<ref>[^:^~]+)(?P<anc>(?:[\^~]\d*)*))?(?::(?P<path>.*))?$"
)


@dataclass(frozen=True, slots=True)
class Address:
    repo: str
    ref: str | None  # branch or commit id; None means the default branch
    ancestry: int  # how many parents to walk back
    path: str | None

    def __str__(self) -> str:
        out = self.repo
        if self.ref is not None:
            out += f"@{self.ref}" + (f"^{self.ancestry}" if self.ancestry else "")
        if self.path is not None:
            out += f":{self.path}"
        return out


def _ancestry(text: str) -> int:
    total = 0
    for _op, digits in re.findall(r"([\^~])(\d*)", text):
        total += int(digits) if digits else 1
    return total


def parse_address(text: str, require_path: bool = False, allow_root: bool = True) -> Address:
    """Parse ``repo@ref^N:/path``; raises ``InvalidAddressError`` with an example on bad input."""
    match = _ADDRESS_RE.match(text or "")
    if not match:
        raise InvalidAddressError(
            f"invalid address {text!r}: expected repo[@branch-or-commit[^N]][:/path], "
            "e.g. images@master:/cat.png"
        )
    try:
        repo = check_repo_name(match["repo"])
    except ValueError as e:
        raise InvalidAddressError(f"invalid address {text!r}: {e}") from None
    path = match["path"]
    if path is not None:
        try:
            path = normalize_path(path, allow_root=allow_root)
        except ValueError as e:
            raise InvalidAddressError(f"invalid address {text!r}: {e}") from None
    elif require_path:
        raise InvalidAddressError(
            f"address {text!r} names no file: add ':/path', e.g. {text}:/data.csv"
        )
    ref = match["ref"]
    if ref is not None and "." in ref and not re.fullmatch(r"[^.]+\.[1-9]\d*", ref):
        raise InvalidAddressError(
            f"invalid address {text!r}: a forward reference is branch.N with N >= 1, "
            "e.g. images@master.1 (the branch's first commit)"
        )
    anc = _ancestry(match["anc"] or "")
    return Address(repo, ref, anc, path)
