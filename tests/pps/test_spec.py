"""The spec front door: Pachyderm's published specs, both field spellings, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import raypachy
from raypachy.errors import InvalidSpecError
from raypachy.pps.spec import PfsInput, parse_spec, read_specs

SPECS = Path(__file__).parents[3] / "shared" / "pachyderm-specs"
REFUSED: dict[str, str] = {}
FIXTURES = sorted(p for p in SPECS.glob("*") if p.suffix in (".json", ".yml", ".yaml"))


def test_all_published_specs_are_here() -> None:
    assert len(FIXTURES) == 24, "the 24 published Pachyderm specs are the fixtures"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_published_spec_accepted_or_refused_in_one_line(path: Path) -> None:
    text = path.read_text()
    if path.name in REFUSED:
        with pytest.raises(InvalidSpecError) as e:
            read_specs(text)
        message = str(e.value)
        assert "\n" not in message and "not supported yet" in message
        assert REFUSED[path.name] in message
    else:
        specs = read_specs(text)
        assert specs and all(s.name for s in specs)


def test_transform_secrets_are_accepted_and_checked() -> None:
    [spec] = read_specs((SPECS / "superb-ai-sample_project.yml").read_text())
    assert [(s.name, s.key, s.env_var) for s in spec.transform.secrets or []] == [
        ("superbai", "account_name", "SPB_ACCOUNT_NAME"), ("superbai", "access_key", "SPB_ACCESS_KEY"),
    ]  # fmt: skip
    base = {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r"}}}
    for secret, message in (
        ({"name": "s", "key": "k"}, "needs a name, and key with env_var"),
        ({"name": "s", "key": "k", "env_var": "1BAD"}, "is not an environment variable name"),
        ({"name": "s", "mount_path": "/pfs/out/s"}, "must be an absolute directory outside"),
        ({"name": "s", "mount_path": "var/s"}, "must be an absolute directory outside /pfs"),
    ):
        with pytest.raises(InvalidSpecError, match=message):
            parse_spec({**base, "transform": {"cmd": ["true"], "secrets": [secret]}})
    python = {"python": {"code": "0" * 64, "function": "m:f"},
              "secrets": [{"name": "s", "mount_path": "/var/s"}]}  # fmt: skip
    with pytest.raises(
        InvalidSpecError, match=r"mount_path for a Python function .* not supported"
    ):
        parse_spec({**base, "transform": python})
    parse_spec({**base, "transform": {"cmd": ["true"], "secrets": [
        {"name": "s", "mount_path": "/var/s"}]}})  # fmt: skip


def test_two_documents_in_one_file() -> None:
    specs = read_specs((SPECS / "tensorflow-training_and_export_gpu.pipeline.json").read_text())
    assert [s.name for s in specs] == ["checkpoint", "model"]


def test_snake_and_camel_case_give_the_same_spec() -> None:
    snake = read_specs((SPECS / "joins-outer_join.json").read_text())[0]
    camel = read_specs((SPECS / "joins-outer_join.pipeline.json").read_text())[0]
    assert snake.input.join is not None and camel.input.join is not None
    assert [j.pfs.outer_join for j in snake.input.join] == [
        j.pfs.outer_join for j in camel.input.join
    ]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": {"pfs": {"repo": "r", "globb": "/*"}}}',
            "unknown field 'input.pfs.globb' in the pipeline spec (did you mean 'glob'?)",
        ),
        (
            '{"pipeline": {"name": "p"}, "transfrom": {"cmd": ["x"]}, "input": {"pfs": {"repo": "r"}}}',
            "unknown field 'transfrom'",
        ),
        ('{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}}', "missing field 'input'"),
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": {"pfs": {"repo": "r"}}, '
            '"parallelismSpec": {"constant": "two"}}',
            "parallelismSpec.constant",
        ),
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": {"pfs": {"repo": "r", "glob": "/[a"}}}',
            "never closed",
        ),
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": []}, "input": {"pfs": {"repo": "r"}}}',
            "transform.cmd is empty",
        ),
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": {"pfs": {"repo": "r"}}, '
            '"resourceRequests": {"memory": "4 gigs"}}',
            "invalid memory '4 gigs'",
        ),
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": {"pfs": {"repo": "p"}}}',
            "cannot read its own output",
        ),
        (
            '{"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": {"cross": '
            '[{"pfs": {"repo": "r"}}, {"pfs": {"repo": "r"}}]}}',
            "used twice",
        ),
        ("{not json", "not valid JSON or YAML"),
        ("", "holds no pipeline spec"),
    ],
)
def test_bad_specs_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=re.escape(message)):
        read_specs(text)


def test_yaml_trailing_commas_and_lists() -> None:
    text = '[{"pipeline": {"name": "a",}, "transform": {"cmd": ["x"],}, "input": {"pfs": {"repo": "r",},},},]'
    assert [s.name for s in read_specs(text)] == ["a"]


def test_decorator_and_spec_give_the_same_spec() -> None:
    def train(datum):  # type: ignore[no-untyped-def]
        """Train."""

    decorated = raypachy.pipeline(train, input=raypachy.pfs("iris", glob="/raw/*"), num_cpus=2,
                                  memory="2Gi", parallelism=4).build("ab" * 32)  # fmt: skip
    assert decorated.input.pfs is not None and decorated.input.pfs.glob == "/raw/*"
    assert decorated.resource_requests is not None
    assert (
        decorated.resource_requests.cpus() == 2
        and decorated.resource_requests.memory_bytes() == 2 * 2**30
    )
    assert decorated.parallelism_spec is not None and decorated.parallelism_spec.constant == 4
    assert decorated.transform.python is not None and decorated.transform.python.code == "ab" * 32
    again = read_specs(json.dumps(decorated.to_json()))[0]
    assert again == decorated


def _spec_with(inp: dict, **extra: object) -> dict:  # type: ignore[type-arg]
    return {"pipeline": {"name": "p"}, "transform": {"cmd": ["x"]}, "input": inp, **extra}


def test_union_inputs_may_share_a_name_but_cross_join_group_may_not() -> None:
    shared = [{"pfs": {"repo": "a", "name": "in"}}, {"pfs": {"repo": "b", "name": "in"}}]
    assert parse_spec(_spec_with({"union": shared})).name == "p"
    # a union of same-named inputs, crossed with an input of another name, is fine too
    crossed = {"cross": [{"union": shared}, {"pfs": {"repo": "c"}}]}
    assert parse_spec(_spec_with(crossed)).name == "p"
    for kind in ("cross", "join", "group"):
        with pytest.raises(InvalidSpecError, match=f"'in' is used twice in one {kind}"):
            parse_spec(_spec_with({kind: shared}))
    clash = {"cross": [{"union": shared}, {"pfs": {"repo": "d", "name": "in"}}]}
    with pytest.raises(InvalidSpecError, match="used twice in one cross"):
        parse_spec(_spec_with(clash))


def test_the_project_object_form_of_pachyderm_2_5_is_accepted() -> None:
    spec = _spec_with({"pfs": {"repo": "r", "project": "default"}})
    spec["pipeline"] = {"name": "p", "project": {"name": "default"}}
    assert parse_spec(spec).pipeline.project == "default"
    spec["pipeline"] = {"name": "p", "project": {"name": "team"}}
    # The pipeline lives in team; its input names the default project, so it reads r there.
    parsed = parse_spec(spec)
    assert parsed.name == "team/p"
    assert [leaf.repo for leaf in parsed.input.leaves() if isinstance(leaf, PfsInput)] == ["r"]
    spec["pipeline"] = {"name": "p"}
    spec["input"] = {"cron": {"name": "tick", "spec": "@every 1m", "project": {"name": "default"}}}
    assert parse_spec(spec).input.cron is not None


def test_inputs_read_the_pipelines_project_unless_they_name_one() -> None:
    spec = _spec_with(
        {
            "cross": [
                {"pfs": {"repo": "a", "glob": "/*"}},
                {"pfs": {"repo": "b", "glob": "/*", "project": "other"}},
                {"pfs": {"repo": "c", "glob": "/*", "project": "default"}},
            ]
        }
    )
    spec["pipeline"] = {"name": "edges", "project": "staging"}  # the plain string form
    parsed = parse_spec(spec)
    assert parsed.name == "staging/edges"
    leaves = [leaf for leaf in parsed.input.leaves() if isinstance(leaf, PfsInput)]
    assert [leaf.repo for leaf in leaves] == ["staging/a", "other/b", "c"]
    # /pfs/<name> is the plain repo name, as in Pachyderm
    assert [leaf.input_name for leaf in leaves] == ["a", "b", "c"]
    # the stored form parses back to the same pipeline (its version hash is stable)
    again = parse_spec(parsed.to_json())
    assert again.canonical() == parsed.canonical()
    assert parsed.to_json()["pipeline"] == {"name": "edges", "project": {"name": "staging"}}
    # a default-project pipeline keeps the canonical form it had before projects
    plain = parse_spec(_spec_with({"pfs": {"repo": "r"}}))
    assert plain.to_json()["pipeline"] == {"name": "p"}


def test_a_project_named_twice_differently_or_badly_is_refused() -> None:
    spec = _spec_with({"pfs": {"repo": "r"}})
    spec["pipeline"] = {"name": "a/p", "project": "b"}
    with pytest.raises(InvalidSpecError, match="names project 'a' but its project is 'b'"):
        parse_spec(spec)
    spec["pipeline"] = {"name": "p", "project": "no way"}
    with pytest.raises(InvalidSpecError, match="invalid project name"):
        parse_spec(spec)


def test_a_decorated_pipeline_names_its_project_and_its_inputs_projects() -> None:
    @raypachy.pipeline(
        input=raypachy.union(
            raypachy.pfs("images", glob="/*", project="raw"), raypachy.pfs("images", glob="/*")
        ),
        name="staging/edges",
    )
    def edges(datum):  # type: ignore[no-untyped-def]
        return None

    spec = edges.build("a" * 64)
    assert spec.name == "staging/edges"
    leaves = [leaf for leaf in spec.input.leaves() if isinstance(leaf, PfsInput)]
    assert [(leaf.repo, leaf.input_name) for leaf in leaves] == [
        ("raw/images", "images"),
        ("staging/images", "images"),
    ]
