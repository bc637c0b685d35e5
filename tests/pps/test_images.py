"""Images and runtime environments: the task options produced and the refusals.

Running containers needs podman on the nodes; that part is not run on the build machine.
"""

from __future__ import annotations

import pytest

import raypachy
from raypachy.errors import InvalidSpecError
from raypachy.pps.images import check_images, image_label, is_mutable
from raypachy.pps.service import version_of
from raypachy.pps.spec import parse_spec
from raypachy.runtime.resources import task_options


@pytest.mark.parametrize(
    ("image", "mutable"),
    [
        ("pachyderm/opencv", True),
        ("pachyderm/opencv:latest", True),
        ("localhost:5000/edges", True),
        ("pachyderm/opencv:1.0", False),
        ("localhost:5000/edges:2.1", False),
        ("ghcr.io/x/y@sha256:" + "a" * 64, False),
    ],
)
def test_mutable_tags(image: str, mutable: bool) -> None:
    assert is_mutable(image) is mutable


def test_image_label_is_a_valid_kubernetes_label_value() -> None:
    value = image_label("ghcr.io/raypachy/edges:0.1.0")
    assert value == "ghcr.io-raypachy-edges-0.1.0"
    long = image_label("registry.example.com/" + "x" * 100 + ":1")
    assert len(long) <= 63 and long[0].isalnum() and long[-1].isalnum()


def _spec(**extra: object) -> dict:  # type: ignore[type-arg]
    return {"pipeline": {"name": "p"}, "input": {"pfs": {"repo": "r"}},
            "transform": {"cmd": ["true"], "image": "team/img:1.2"}, **extra}  # fmt: skip


def test_task_options_per_image_mode() -> None:
    spec = parse_spec(_spec(ray={"runtime_env": {"env_vars": {"A": "1"}}, "max_retries": 5}))
    off = task_options(spec, "off")
    assert off["max_retries"] == 5 and off["runtime_env"] == {"env_vars": {"A": "1"}}
    assert "label_selector" not in off
    env = task_options(spec, "runtime_env")["runtime_env"]
    assert env == {"env_vars": {"A": "1"}, "image_uri": "team/img:1.2"}
    labelled = task_options(spec, "label")
    assert labelled["label_selector"] == {"raypachy.io/image": "team-img-1.2"}
    assert "image_uri" not in labelled["runtime_env"]


def test_resources_map_to_ray_options() -> None:
    spec = parse_spec(_spec(
        resourceRequests={"cpu": "500m", "memory": "4Gi", "gpu": {"type": "A100", "number": 2}},
        schedulingSpec={"nodeSelector": {"pool": "gpu"}},
    ))  # fmt: skip
    options = task_options(spec)
    assert options["num_cpus"] == 0.5 and options["memory"] == 4 * 2**30
    assert options["num_gpus"] == 2 and options["accelerator_type"] == "A100"
    assert options["label_selector"] == {"pool": "gpu"}
    generic = parse_spec(_spec(resourceLimits={"gpu": {"type": "nvidia.com/gpu", "number": 1}}))
    assert task_options(generic)["num_gpus"] == 1 and "accelerator_type" not in task_options(
        generic
    )


@pytest.mark.parametrize(
    ("image", "runtime_env", "allow", "mode", "message"),
    [
        ("team/img", {}, False, "runtime_env", "mutable tag"),
        ("team/img:latest", {}, False, "label", "mutable tag"),
        ("team/img:1", {"pip": ["x"]}, False, "runtime_env", "cannot be combined"),
        ("team/img:1", {"working_dir": "/home/me/code"}, False, "off", "local path"),
        (None, {"py_modules": ["./mod"]}, False, "off", "local path"),
        ("team/img:1", {}, False, "podman", "unknown image mode"),
    ],
)
def test_refusals(image, runtime_env, allow, mode, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSpecError, match=message):
        check_images("p", image, runtime_env, allow, mode)


def test_allowed_or_warned() -> None:
    assert check_images("p", "team/img", {}, True, "runtime_env").startswith("image team/img")
    assert "mutable tag" in check_images("p", "team/img", {}, False, "off")
    assert check_images("p", "team/img:1", {"working_dir": "s3://b/code.zip"}, False, "off") == ""
    assert check_images("p", "team/img:1", {"env_vars": {}}, False, "runtime_env") == ""


def test_image_is_part_of_the_version() -> None:
    one = parse_spec(_spec())
    two = parse_spec({**_spec(), "transform": {"cmd": ["true"], "image": "team/img:1.3"}})
    assert version_of(one) != version_of(two)


def test_decorator_speaks_ray() -> None:
    def fn(datum):  # type: ignore[no-untyped-def]
        pass

    p = raypachy.pipeline(fn, input=raypachy.pfs("r"), image="team/img:9", max_retries=1,
                          runtime_env={"env_vars": {"X": "y"}}, num_gpus=1,
                          accelerator_type="T4", label_selector={"zone": "a"})  # fmt: skip
    options = task_options(p.build("0" * 64), "runtime_env")
    assert options == {
        "num_cpus": 1.0, "max_retries": 1, "num_gpus": 1, "accelerator_type": "T4",
        "label_selector": {"zone": "a"},
        "runtime_env": {"env_vars": {"X": "y"}, "image_uri": "team/img:9"},
    }  # fmt: skip
