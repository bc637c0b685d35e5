"""How the CLI reads names in the current project: --project, RAYPACHY_PROJECT, the client
settings file, and what a name or an address becomes (over a real in-process pachd)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raypachy.cli import project_scope
from raypachy.cli.project_scope import Scoped, current, qualify_address, write_config
from raypachy.client.config import config_path
from raypachy.errors import InvalidArgumentError, InvalidNameError
from raypachy.pachd import Pachd


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("RAYPACHY_HOME", str(tmp_path / "client"))
    monkeypatch.delenv("RAYPACHY_PROJECT", raising=False)
    yield
    project_scope._state.update(project=None, all=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("images", "team/images"),
        ("images@master:/a/b.txt", "team/images@master:/a/b.txt"),
        ("images@master^2", "team/images@master^2"),
        ("other/images@dev", "other/images@dev"),  # names its own project
        ("default/images@dev", "images@dev"),
        ("a" * 32, "a" * 32),  # a commit set's global id is no repo
        ("images@" + "a" * 32, "team/images@" + "a" * 32),
    ],
)
def test_addresses_are_read_in_the_current_project(text: str, expected: str) -> None:
    assert qualify_address(text, "team") == expected
    assert qualify_address(text, "default") == text.removeprefix("default/")


def test_flag_then_env_then_settings_file_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current() == "default"
    write_config("project", "fromfile")
    assert current() == "fromfile"
    monkeypatch.setenv("RAYPACHY_PROJECT", "fromenv")
    assert current() == "fromenv"
    project_scope.set_flags(project="fromflag")
    assert current() == "fromflag"
    with pytest.raises(InvalidNameError, match="invalid project name"):
        write_config("project", "bad name")
    with pytest.raises(InvalidArgumentError, match="unknown setting"):
        write_config("colour", "blue")


def test_a_broken_settings_file_is_one_line() -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(InvalidArgumentError, match="is not JSON") as e:
        current()
    assert "\n" not in str(e.value)


def test_the_scoped_client_names_and_lists_in_the_current_project(tmp_path: Path) -> None:
    pachd = Pachd.open(str(tmp_path / "home"))
    api = Scoped(pachd)
    pachd.create_project("team")
    api.create_repo("images")  # the default project
    project_scope.set_flags(project="team")
    api.create_repo("images", description="team's")
    api.put_file("images@master", "/a", b"team")
    assert pachd.get_file("team/images@master", "/a") == b"team"
    assert api.inspect_repo("images").description == "team's"
    assert [r.name for r in api.list_repos()] == ["team/images"]
    spec = {"pipeline": {"name": "copy"}, "input": {"pfs": {"repo": "images"}},
            "transform": {"cmd": ["true"]}}  # fmt: skip
    info = api.create_pipeline(spec)  # a spec without a project goes into the current one
    assert (info.name, info.inputs) == ("team/copy", ("team/images",))
    assert [p.name for p in api.list_pipelines()] == ["team/copy"]
    assert api.list_commits("images")[0].repo == "team/images"
    project_scope.set_flags(all_projects=True)
    assert sorted(r.name for r in api.list_repos()) == ["images", "team/copy", "team/images"]
