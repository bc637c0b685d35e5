"""Kubernetes quantities (``500m``, ``4Gi``) and Go durations (``1m30s``), as specs use them."""

from __future__ import annotations

import re

from raypachy.errors import InvalidSpecError

_SUFFIX = {
    "": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "B": 1,
}  # fmt: skip
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_bytes(value: str | int | float, field: str = "memory") -> int:
    """``"4Gi"`` -> 4294967296; plain numbers are bytes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    match = _QUANTITY.match(str(value))
    if not match or match[2] not in _SUFFIX:
        raise InvalidSpecError(
            f"invalid {field} {value!r}: use a Kubernetes quantity such as 512Mi, 4Gi or 10G"
        )
    return int(float(match[1]) * _SUFFIX[match[2]])


def parse_cpu(value: str | int | float, field: str = "cpu") -> float:
    """``"500m"`` -> 0.5; ``2`` -> 2.0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        raise InvalidSpecError(
            f"invalid {field} {value!r}: use a number such as 2 or 500m"
        ) from None


def parse_duration(value: str | int | float, field: str = "timeout") -> float:
    """``"1m30s"`` -> 90.0 seconds; plain numbers are seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidSpecError(
            f"invalid {field} {value!r}: use a duration such as 30s, 5m or 1h30m"
        )
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
