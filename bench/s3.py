"""The S3 gateway against the CLI on the same local cluster.

``s3_get_ratio``: ``aws s3 cp`` of a 1 GiB object through the gateway beside ``raypachy get
file`` of the same file (throughput ratio, target >= 0.7); ``s3_list_10k_s``: listing 10,000
keys page by page with plain signed ListObjectsV2 requests (target <= 1 s), with boto3's
paginator and ``aws s3 ls --recursive`` of the same keys beside it (those two spend most of
their time parsing the XML into Python objects on the client). Starts its own cluster
(temporary home, free ports). Last line: one JSON object.
Run: ``python bench/s3.py [--quick]`` (--quick: 256 MiB, 2,000 keys).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RAYPACHY, bench_dir, local_cluster, make_mixed_file, report, timed

AWS = str(Path(sys.executable).with_name("aws"))


def _aws_env(env: dict[str, str], token: str | None, home: Path) -> dict[str, str]:
    out = {**env, "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(home / "none"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "none")}  # fmt: skip
    if token:
        out |= {"AWS_ACCESS_KEY_ID": token, "AWS_SECRET_ACCESS_KEY": token}
    return out


def _aws(args: list[str], env: dict[str, str], token: str | None) -> None:
    sign = [] if token else ["--no-sign-request"]
    subprocess.run([AWS, *sign, *args], env=env, check=True, capture_output=True)


def _s3_client(url: str, token: str | None) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    if token:
        return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id=token, aws_secret_access_key=token)  # fmt: skip
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED))  # fmt: skip


def _list_raw(url: str, bucket: str, token: str | None) -> int:
    """Every key of ``bucket`` through signed ListObjectsV2 pages, parsed with ElementTree."""
    import xml.etree.ElementTree as ET
    from urllib.parse import quote

    import httpx
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    count, token_arg = 0, ""
    with httpx.Client() as http:
        while True:
            target = f"{url}/{bucket}?list-type=2{token_arg}"
            headers: dict[str, str] = {}
            if token:
                req = AWSRequest("GET", target)
                S3SigV4Auth(Credentials(token, token), "s3", "us-east-1").add_auth(req)
                headers = dict(req.headers)
            root = ET.fromstring(http.get(target, headers=headers).content)
            count += sum(1 for _ in root.iter(f"{ns}Key"))
            nxt = root.find(f"{ns}NextContinuationToken")
            if nxt is None or not nxt.text:
                return count
            token_arg = "&continuation-token=" + quote(nxt.text, safe="")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    size = (256 << 20) if args.quick else (1 << 30)
    keys = 2_000 if args.quick else 10_000
    root = bench_dir() / "s3"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    big = root / "big.bin"
    make_mixed_file(big, size)
    small = root / "small"
    for i in range(keys):
        d = small / f"d{i % 10}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(b"%d\n" % i)
    home = root / "home"
    with local_cluster(home) as (env, _api):
        url = f"http://127.0.0.1:{env['RAYPACHY_S3_PORT']}"
        token_file = home / "token"
        token = token_file.read_text().strip() if token_file.exists() else None
        aws_env = _aws_env(env, token, root)
        cli = [RAYPACHY]
        subprocess.run([*cli, "create", "repo", "bench"], env=env, check=True)
        subprocess.run([*cli, "put", "file", "bench@master:/big.bin", "-f", str(big)],
                       env=env, check=True)  # fmt: skip
        subprocess.run([*cli, "create", "repo", "many"], env=env, check=True)
        subprocess.run([*cli, "put", "file", "-r", "many@master:/", "-f", str(small)],
                       env=env, check=True)  # fmt: skip
        out = root / "out.bin"

        def get_cli() -> None:
            out.unlink(missing_ok=True)
            subprocess.run([*cli, "get", "file", "bench@master:/big.bin", "-o", str(out)],
                           env=env, check=True)  # fmt: skip

        def get_s3() -> None:
            out.unlink(missing_ok=True)
            _aws(["--endpoint-url", url, "s3", "cp", "s3://master.bench/big.bin", str(out)],
                 aws_env, token)  # fmt: skip

        get_cli()  # warm both paths once (page cache, chunk caches)
        get_s3()
        t_cli = min(timed(get_cli) for _ in range(2))
        t_s3 = min(timed(get_s3) for _ in range(2))
        assert out.stat().st_size == size
        s3 = _s3_client(url, token)

        def list_boto() -> int:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket="master.many")
            return sum(p.get("KeyCount", 0) for p in pages)

        assert list_boto() == keys
        t_boto = timed(list_boto)
        assert _list_raw(url, "master.many", token) == keys
        t_list = min(timed(lambda: _list_raw(url, "master.many", token)) for _ in range(3))
        start = time.perf_counter()
        _aws(["--endpoint-url", url, "s3", "ls", "--recursive", "s3://master.many/"],
             aws_env, token)  # fmt: skip
        t_list_cli = time.perf_counter() - start
    mib = size / (1 << 20)
    ratio = t_cli / t_s3
    result = {
        "bytes": size, "keys": keys, "get_file_s": round(t_cli, 3), "aws_s3_cp_s": round(t_s3, 3),
        "s3_get_ratio": round(ratio, 3), "s3_list_10k_s": round(t_list, 3),
        "boto3_list_s": round(t_boto, 3), "aws_s3_ls_recursive_s": round(t_list_cli, 3),
        "cores": os.cpu_count(),
    }  # fmt: skip
    report(
        "S3 gateway",
        [
            ("raypachy get file (MiB/s)", f"{mib / t_cli:.0f}", ""),
            ("aws s3 cp via gateway (MiB/s)", f"{mib / t_s3:.0f}", ""),
            ("s3_get_ratio", f"{ratio:.2f}", ">= 0.7"),
            (f"list {keys:,} keys, ListObjectsV2 pages (s)", f"{t_list:.2f}", "<= 1"),
            (f"list {keys:,} keys, boto3 paginator (s)", f"{t_boto:.2f}", ""),
            (f"aws s3 ls --recursive {keys:,} keys (s)", f"{t_list_cli:.2f}", "(CLI start incl.)"),
        ],
        result,
    )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
