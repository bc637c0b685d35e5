"""GPU workers exist only while jobs need them: autoscaling from zero on one machine.

Ray's fake multi-node provider plays the cloud: the autoscaler starts "nodes" (sets of Ray
processes) of a CPU type and a GPU type, both ``min_workers: 0``. This module starts its own
head with that autoscaler (``ray start --head --autoscaling-config``, in a session of its
own) and stops exactly that process tree: no ``ray stop --force``. It is heavy, so it is
marked ``owns_machine`` and ``make test`` runs it after everything else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

import raypachy
from raypachy.client import Client
from raypachy.runtime.cluster import _spawn_control_plane, _stop_process, _stop_ray, start_ray_head
from tests.conftest import free_port

pytestmark = [
    pytest.mark.ray,
    pytest.mark.owns_machine,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

IDLE_TIMEOUT_MIN = 0.15  # 9 s: GPU nodes leave soon after their last datum


def _autoscaler_config(gcs_port: int) -> dict[str, Any]:
    """A fake_multinode autoscaler config (the 2.60 wheel ships no example to start from)."""
    return {
        "cluster_name": "raypachy-autoscaling-test",
        "max_workers": 4,
        "provider": {"type": "fake_multinode", "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True,
                     "gcs_address": f"127.0.0.1:{gcs_port}"},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            "cpu_node": {"resources": {"CPU": 2}, "node_config": {},
                         "min_workers": 0, "max_workers": 2},
            "gpu_node": {"resources": {"CPU": 1, "GPU": 1, "accelerator_type:T4": 1},
                         "node_config": {}, "min_workers": 0, "max_workers": 1},
        },
        "head_node_type": "ray.head.default",
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_TIMEOUT_MIN,
        "docker": {},
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [], "file_mounts": {}, "cluster_synced_files": [],
        "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
        "auth": {"ssh_user": "ray"},
    }  # fmt: skip


@pytest.fixture(scope="module")
def autoscaling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, str]]:
    home = tmp_path_factory.mktemp("autoscaling")
    config = home / "autoscaler.json"
    gcs_port = free_port()
    config.write_text(json.dumps(_autoscaler_config(gcs_port)))
    env = {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    head, gcs, dashboard, _ = start_ray_head(
        home, 0, (f"--autoscaling-config={config}",), env, gcs_port=gcs_port
    )
    port = free_port()
    control = None
    try:
        control = _spawn_control_plane(
            home, gcs, f"file://{home}/storage", port, "off", free_port()
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        client = Client(url, home=home)
        while True:
            try:
                client.health()
                break
            except Exception:
                assert time.monotonic() < deadline, (
                    home / "logs" / "control-plane.log"
                ).read_text()
                time.sleep(0.5)
        yield client, dashboard
        client.close()
    finally:
        _stop_process(control)
        _stop_ray(head)


def _nodes(dashboard: str) -> list[Any]:
    from ray.util.state import list_nodes

    return [n for n in list_nodes(address=dashboard, limit=100) if n.state == "ALIVE"]


def _gpu_nodes(dashboard: str) -> list[Any]:
    return [n for n in _nodes(dashboard) if n.resources_total.get("GPU", 0) > 0]


def where(datum):  # type: ignore[no-untyped-def]
    import ray

    time.sleep(2)
    (datum.out / datum.datum_id).write_text(ray.get_runtime_context().get_node_id())


def _run(client: Client, name: str, files: int, timeout: float, **options: object) -> set[str]:
    client.create_repo(f"{name}-in")
    with client.modify(f"{name}-in@master") as m:
        for i in range(files):
            m.put(f"/f{i}", b"x")
    client.create_pipeline(raypachy.pipeline(where, input=raypachy.pfs(f"{name}-in", glob="/*"),
                                             name=name, **options))  # fmt: skip
    job_id = client.inspect_pipeline(name).last_job
    assert job_id is not None
    job = client.wait_job(name, job_id, timeout=timeout)
    assert job.state == "success", job
    return {
        client.get_file(f"{name}@master", p).decode()
        for p, _ in client.walk_data(f"{name}@master", "/")
    }


def test_gpu_type_scales_from_zero_and_back(autoscaling: tuple[Client, str]) -> None:
    client, dashboard = autoscaling
    assert _gpu_nodes(dashboard) == []  # min_workers 0: no GPU node while nothing needs one
    used = _run(client, "gpu-infer", 2, 300, num_gpus=1, accelerator_type="T4")
    from ray.util.state import list_nodes

    ran_on = [n for n in list_nodes(address=dashboard, limit=100) if n.node_id in used]
    assert ran_on and all(n.resources_total.get("GPU", 0) == 1 for n in ran_on)
    deadline = time.monotonic() + 120  # idle timeout (9 s) + the autoscaler's own pace
    while _gpu_nodes(dashboard):
        assert time.monotonic() < deadline, "the idle GPU node was never removed"
        time.sleep(2)


def test_cpu_pipeline_spreads_over_scaled_up_nodes(autoscaling: tuple[Client, str]) -> None:
    client, dashboard = autoscaling
    used = _run(client, "cpu-wide", 8, 300, num_cpus=1, parallelism=4, datum_set_number=1)
    cpu_nodes = {n.node_id for n in _nodes(dashboard) if n.resources_total.get("CPU", 0) == 2}
    assert len(used) >= 2, "four batches in flight should need two 2-CPU nodes"
    assert used <= cpu_nodes  # the head offers no CPU: every datum ran on a scaled-up node
