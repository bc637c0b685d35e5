"""Users' key-value metadata of repos, branches and commits (``edit metadata``), as
Pachyderm 2.x keeps it: ``add`` a new key, ``replace`` the value of a key it has, ``remove``
a key it has. Bad edits are refused whole: nothing changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from raypachy.errors import InvalidArgumentError

#: What carries metadata, as the verbs name it.
KINDS = ("repo", "branch", "commit")


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidArgumentError(
            f"cannot edit metadata of {kind!r}: use one of {', '.join(KINDS)}"
        )
    return kind


def edited(
    current: Mapping[str, str],
    what: str,
    add: Mapping[str, str] | None = None,
    remove: Iterable[str] = (),
    replace: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``current`` after the edits (checked first, so that a bad one changes nothing)."""
    out = dict(current)
    for key, value in (add or {}).items():
        _check_pair(key, value)
        if key in out:
            raise InvalidArgumentError(
                f"{what} already has metadata key {key!r}: use --replace {key}=VALUE to change it"
            )
        out[key] = value
    for key, value in (replace or {}).items():
        _check_pair(key, value)
        if key not in out:
            raise InvalidArgumentError(
                f"{what} has no metadata key {key!r} to replace: use --add {key}=VALUE"
            )
        out[key] = value
    for key in remove:
        if key not in out:
            raise InvalidArgumentError(f"{what} has no metadata key {key!r} to remove")
        del out[key]
    return out


def _check_pair(key: object, value: object) -> None:
    if not isinstance(key, str) or not key or not isinstance(value, str):
        raise InvalidArgumentError(
            f"metadata must be key=value text with a non-empty key, not {key!r}={value!r}"
        )
