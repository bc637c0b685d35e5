"""A class pipeline with ``num_gpus=1`` on a Ray cluster with a fake GPU node: its pool's
actor runs on the GPU node, stays warm for ``keep_warm_s``, then goes, freeing the GPU; and a
pipeline with pod fields runs only on the node carrying its worker group's label."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import raypachy
from raypachy.client import Client
from raypachy.pps.podgroup import GROUP_LABEL
from tests.conftest import free_port

pytestmark = [
    pytest.mark.ray,
    # Ray, running in this process as the driver, leaves sockets of its own behind.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

TOLERANT = "tolerant" + uuid.uuid4().hex[:6]  # the pipeline whose group the GPU node is


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, dict[str, str]]]:
    import ray
    from ray.cluster_utils import Cluster

    from raypachy.runtime.cluster import start_control_plane
    from raypachy.server.doors import front_doors

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "dashboard_port": free_port()})
    gpu = c.add_node(num_cpus=2, num_gpus=1, labels={GROUP_LABEL: TOLERANT})
    c.wait_for_nodes()
    home = tmp_path_factory.mktemp("gpupool")
    try:
        url = start_control_plane(c.address, str(home), f"file://{home}/storage", port=free_port(),
                                  stay_connected=True, gateway_port=free_port(),
                                  doors=front_doors())  # fmt: skip
        with Client(url, home=home) as client:
            yield client, {"gpu": gpu.node_id, "head": c.head_node.node_id}
    finally:
        ray.shutdown()
        c.shutdown()


class Model:
    """The "model" loads once per actor; each datum records where it ran."""

    def __init__(self) -> None:
        import ray

        self.actor = ray.get_runtime_context().get_actor_name()

    def __call__(self, datum: Any) -> None:
        import ray

        node = ray.get_runtime_context().get_node_id()
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        (datum.out / datum.datum_id).write_text(f"{node} {gpus} {self.actor} {os.getpid()}")


def where(datum: Any) -> None:
    import ray

    (datum.out / datum.datum_id).write_text(ray.get_runtime_context().get_node_id())


def _repo(client: Client, files: int) -> str:
    repo = "in" + uuid.uuid4().hex[:8]
    client.create_repo(repo)
    with client.modify(f"{repo}@master") as m:
        for i in range(files):
            m.put(f"/f{i}", b"x")
    return repo


def _outputs(client: Client, name: str) -> list[str]:
    job = client.inspect_pipeline(name).last_job
    assert job is not None
    done = client.wait_job(name, job, timeout=180)
    assert done.state == "success", done
    return [client.get_file(f"{name}@master", p).decode()
            for p, _ in client.walk_data(f"{name}@master", "/")]  # fmt: skip


def _alive(name: str) -> bool:
    import ray

    from raypachy.runtime.names import NAMESPACE

    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


def test_a_gpu_class_pipeline_runs_on_the_gpu_node_then_its_pool_goes_to_zero(
    cluster: tuple[Client, dict[str, str]],
) -> None:
    import ray

    client, nodes = cluster
    name = "gpuclass" + uuid.uuid4().hex[:6]
    keep = 20  # the warm actor outlives the job's end by this much, even on a loaded machine
    client.create_pipeline(raypachy.pipeline(Model, input=raypachy.pfs(_repo(client, 4), "/*"),
                                             name=name, num_gpus=1, concurrency=1,
                                             keep_warm_s=keep))  # fmt: skip
    outputs = _outputs(client, name)
    worker = f"raypachy:{name}:worker:0"
    assert len(outputs) == 4
    for line in outputs:
        node, gpus, actor, _ = line.split(" ")
        assert (node, gpus, actor) == (nodes["gpu"], "0", worker)  # Ray gave it the GPU
    assert len({line.split(" ")[3] for line in outputs}) == 1  # one actor: loaded once
    assert _alive(worker) and ray.available_resources().get("GPU", 0) == 0  # warm, holding it
    deadline = time.monotonic() + keep + 60
    while (_alive(worker) or ray.available_resources().get("GPU", 0) < 1) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.5)
    assert not _alive(worker), f"the pool kept its actor past keep_warm_s={keep}"
    assert ray.available_resources().get("GPU", 0) == 1  # the GPU is free: the node may go


def test_pod_fields_keep_the_datums_on_the_pipelines_own_group(
    cluster: tuple[Client, dict[str, str]],
) -> None:
    client, nodes = cluster
    pipe = raypachy.pipeline(where, input=raypachy.pfs(_repo(client, 6), "/*"), name=TOLERANT,
                             parallelism=3, datum_set_number=1)  # fmt: skip
    spec = pipe.build(client.store_code(pipe.code())).to_json()
    spec["tolerations"] = [{"key": "dedicated", "operator": "Equal", "value": "ml"}]
    client.create_pipeline(spec)
    outputs = _outputs(client, TOLERANT)
    assert len(outputs) == 6 and set(outputs) == {nodes["gpu"]}  # never the head's free CPU
    info = client.inspect_pipeline(TOLERANT)
    assert info.ray_options["label_selector"] == {GROUP_LABEL: TOLERANT}
