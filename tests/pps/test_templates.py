"""Jsonnet pipeline templates, evaluated by the jsonnet package as pachctl's --jsonnet."""

from __future__ import annotations

from pathlib import Path

import pytest

from raypachy.errors import InvalidSpecError
from raypachy.pps.spec import read_specs
from raypachy.pps.templates import parse_args, render_jsonnet

TEMPLATE = """
function(suffix, src="images")
[{
  pipeline: { name: "edges-" + suffix },
  input: { pfs: { repo: src, glob: "/*" } },
  transform: { cmd: ["python3", "/edges.py"], image: "pachyderm/opencv:1.0" },
}]
"""


def test_top_level_args_fill_the_template(tmp_path: Path) -> None:
    path = tmp_path / "edges.jsonnet"
    path.write_text(TEMPLATE)
    [spec] = read_specs(render_jsonnet(str(path), parse_args(["suffix=1", "src=raw"])))
    assert spec.name == "edges-1"
    assert (spec.input.pfs.repo, spec.input.pfs.glob) == ("raw", "/*")  # type: ignore[union-attr]


def test_template_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "edges.jsonnet"
    path.write_text(TEMPLATE)
    with pytest.raises(InvalidSpecError) as e:
        render_jsonnet(str(path), {})  # suffix has no default
    assert str(e.value).startswith(f"jsonnet template {path}: ") and "\n" not in str(e.value)
    assert "suffix" in str(e.value)
    path.write_text("{ a: }")
    with pytest.raises(InvalidSpecError, match=r"jsonnet template .*: "):
        render_jsonnet(str(path), {})
    with pytest.raises(InvalidSpecError, match="--arg 'suffix' must be of the form param=value"):
        parse_args(["suffix"])
