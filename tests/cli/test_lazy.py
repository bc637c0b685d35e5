"""The CLI loads only what the verb it runs needs: the command table, and what a plain
``list repo`` or a small ``put file`` leaves out of ``sys.modules``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from raypachy.cli.lazy import COMMAND_MODULES, NOUN_MODULES
from tests.conftest import RAYPACHY, LocalCluster

#: Loaded by no repo or file verb: the UI (rich), the storage engine, the pipeline models
#: and specs, deploy renders, the server, Ray.
HEAVY = ("rich", "pygments", "pyarrow", "pandas", "numpy", "blake3", "pydantic", "yaml",
         "jsonschema", "ray", "boto3", "trio", "raypachy.storage", "raypachy.pps.model",
         "raypachy.pps.spec", "raypachy.deploy", "raypachy.server", "raypachy.runtime.cluster")  # fmt: skip

_RUN = """
import json, sys
sys.argv = ["raypachy", *sys.argv[1:]]
from raypachy.cli.entry import main
main()
print(json.dumps(sorted(m for m in sys.modules if sys.modules[m] is not None)), file=sys.stderr)
"""


def _loaded(env: dict[str, str] | None, *args: str, stdin: bytes | None = None) -> set[str]:
    """The modules a CLI process has loaded after running ``raypachy ARGS``."""
    done = subprocess.run([sys.executable, "-c", _RUN, *args], input=stdin, env=env,
                          capture_output=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stderr.decode().splitlines()[-1]))


def _heavy(loaded: set[str]) -> list[str]:
    return sorted(h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in loaded))


def test_the_table_names_every_noun_and_command_the_modules_define() -> None:
    for module, verbs in NOUN_MODULES.items():
        nouns = importlib.import_module(f"raypachy.cli.{module}").NOUNS
        assert {verb: tuple(c.name for c in cs) for verb, cs in nouns.items()} == verbs, module
    for name, (module, attr) in COMMAND_MODULES.items():
        assert getattr(importlib.import_module(f"raypachy.cli.{module}"), attr).name == name
    pps = importlib.import_module("raypachy.cli.pps_commands")
    assert {c.name for c in pps.COMMANDS} <= set(COMMAND_MODULES)


def test_help_lists_every_verb_and_noun_and_scopes_them() -> None:
    out = subprocess.run([RAYPACHY, "--help"], capture_output=True, text=True, check=True).stdout
    verbs = {verb for verbs in NOUN_MODULES.values() for verb in verbs}
    for name in (*verbs, *COMMAND_MODULES, "version"):
        assert f"\n  {name} " in out, name
    listing = subprocess.run([RAYPACHY, "list", "--help"], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    assert "List repo, commit, branch, file, pipeline, job, datum, secret," in listing
    repo = subprocess.run([RAYPACHY, "list", "repo", "--help"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "--project NAME" in repo and "--all-projects" in repo
    logs = subprocess.run([RAYPACHY, "logs", "--help"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    assert "--project NAME" in logs and "--all-projects" not in logs


def test_help_and_version_load_no_heavy_module() -> None:
    assert _heavy(_loaded(None, "list", "repo", "--help")) == []
    version = _loaded(None, "--version")
    assert _heavy(version) == [] and "httpx" not in version


@pytest.mark.ray
def test_a_repo_or_file_verb_loads_only_the_client(local_cluster: LocalCluster) -> None:
    name = "t" + uuid.uuid4().hex[:10]
    env = local_cluster.env
    local_cluster.cli("create", "repo", name)
    small = _loaded(env, "put", "file", f"{name}@master:/a.bin", "-f", "-", stdin=b"x" * 4096)
    assert _heavy(small) == []  # a small put goes through the API: no chunking stack here
    direct = {**env, "RAYPACHY_DATA_PLANE": "direct"}  # asked for: chunked here all the same
    forced = _loaded(direct, "put", "file", f"{name}@master:/b.bin", "-f", "-", stdin=b"y")
    assert "raypachy.storage" in forced
    listed = _loaded(env, "list", "repo")
    assert _heavy(listed) == [] and "httpx" in listed
    assert _heavy(_loaded(env, "list", "file", f"{name}@master:/")) == []
    assert "raypachy.pps.model" in _loaded(env, "list", "pipeline")  # loaded when needed


def test_a_pipeline_file_may_import_what_the_cli_skips(tmp_path: Path) -> None:
    """The executable marks trio absent for itself; a user's pipeline file still has it."""
    pytest.importorskip("trio")
    (tmp_path / "p.py").write_text("import trio\n\nSTARTED = trio.run\n")
    done = subprocess.run([RAYPACHY, "create", "pipeline", "--python", str(tmp_path / "p.py")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "defines no @raypachy.pipeline" in done.stderr, done.stderr
