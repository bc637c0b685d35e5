"""Resources and placement on a multi-node Ray cluster (``ray.cluster_utils.Cluster``):
fake GPUs with an accelerator type, node labels, spreading, and infeasible requests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest

import raypachy
from raypachy.client import Client
from tests.conftest import free_port

pytestmark = [
    pytest.mark.ray,
    # Ray, running in this process as the driver, leaves sockets of its own behind.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, dict[str, str]]]:
    import ray
    from ray.cluster_utils import Cluster

    from raypachy.runtime.cluster import start_control_plane
    from raypachy.server.doors import front_doors

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "dashboard_port": free_port()})
    gpu = c.add_node(num_cpus=2, num_gpus=2, resources={"accelerator_type:A100": 1},
                     labels={"zone": "gpu-zone"})  # fmt: skip
    cpu = c.add_node(num_cpus=2, labels={"zone": "cpu-zone"})
    c.wait_for_nodes()
    home = tmp_path_factory.mktemp("placement")
    port = free_port()
    try:
        url = start_control_plane(c.address, str(home), f"file://{home}/storage", port=port,
                                  stay_connected=True, gateway_port=free_port(),
                                  doors=front_doors())  # fmt: skip
        nodes = {"gpu": gpu.node_id, "cpu": cpu.node_id, "head": c.head_node.node_id}
        with Client(url, home=home) as client:
            yield client, nodes
    finally:
        ray.shutdown()
        c.shutdown()


def where(datum):  # type: ignore[no-untyped-def]
    """Record which node ran the datum, and the GPUs Ray gave it."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    (datum.out / datum.datum_id).write_text(f"{node} {gpus}")
    time.sleep(0.2)


def _run(client: Client, name: str, files: int, **options: object) -> dict[str, str]:
    repo = "in" + uuid.uuid4().hex[:8]
    client.create_repo(repo)
    with client.modify(f"{repo}@master") as m:
        for i in range(files):
            m.put(f"/f{i}", b"x")
    client.create_pipeline(raypachy.pipeline(where, input=raypachy.pfs(repo, glob="/*"), name=name,
                                             **options))  # fmt: skip
    job = client.inspect_pipeline(name).last_job
    assert job is not None
    done = client.wait_job(name, job, timeout=120)
    assert done.state == "success", done
    return {
        p: client.get_file(f"{name}@master", p).decode()
        for p, _ in client.walk_data(f"{name}@master", "/")
    }


def test_gpu_pipeline_runs_on_the_gpu_node(cluster) -> None:  # type: ignore[no-untyped-def]
    client, nodes = cluster
    out = _run(client, "gpu" + uuid.uuid4().hex[:6], 2, num_gpus=1, accelerator_type="A100")
    for value in out.values():
        node, gpus = value.split(" ")
        assert node == nodes["gpu"] and gpus in {"0", "1"}
    info = client.inspect_pipeline(
        next(iter(p.name for p in client.list_pipelines() if p.name.startswith("gpu")))
    )
    assert info.ray_options["num_gpus"] == 1 and info.ray_options["accelerator_type"] == "A100"
    assert len(info.can_run_on) == 1 and nodes["gpu"][:8] in info.can_run_on[0]


def test_label_selector_routes_datums(cluster) -> None:  # type: ignore[no-untyped-def]
    client, nodes = cluster
    out = _run(client, "zone" + uuid.uuid4().hex[:6], 3, label_selector={"zone": "cpu-zone"})
    assert {v.split(" ")[0] for v in out.values()} == {nodes["cpu"]}


def test_parallel_datums_spread_over_nodes(cluster) -> None:  # type: ignore[no-untyped-def]
    client, nodes = cluster
    out = _run(client, "spread" + uuid.uuid4().hex[:6], 12, parallelism=4, datum_set_number=1)
    used = {v.split(" ")[0] for v in out.values()}
    assert len(used) >= 2 and used <= set(nodes.values())


def test_infeasible_request_is_reported_not_silent(cluster) -> None:  # type: ignore[no-untyped-def]
    client, _ = cluster
    name = "huge" + uuid.uuid4().hex[:6]
    repo = "in" + uuid.uuid4().hex[:8]
    client.create_repo(repo)
    client.put_file(f"{repo}@master", "/f", b"x")
    client.create_pipeline(raypachy.pipeline(where, input=raypachy.pfs(repo, glob="/*"), name=name,
                                             num_gpus=4, accelerator_type="A100"))  # fmt: skip
    job_id = client.inspect_pipeline(name).last_job
    assert job_id is not None
    deadline = time.monotonic() + 60
    while "no node" not in client.inspect_job(name, job_id).reason:
        assert time.monotonic() < deadline, client.inspect_job(name, job_id)
        time.sleep(0.5)
    job = client.inspect_job(name, job_id)
    assert job.state == "running"
    assert job.reason.startswith("waiting: no node or node type offers 4 GPUs of type A100")
    info = client.inspect_pipeline(name)
    assert info.can_run_on == () and "4 GPUs of type A100" in info.placement
    assert client.stop_job(name, job_id).state == "killed"
