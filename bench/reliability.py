"""Reliability in one run: faults injected and survived, bad inputs rejected, the API fuzzed,
writers racing gc (finish, job stop and code upload against a gc held mid-run, 200 rounds),
the load test (8 writers x 200 commits, a pipeline consuming, gc running) with the metadata
in SQLite and again in PostgreSQL (a real server started here, fsync on), the same load
through two clusters (two homes, two Ray heads) sharing one PostgreSQL and one storage, and
what a hostile
web page (DNS rebinding, cross-site requests) or another local user sends to the local API.

Faults are the fault tests themselves (each kills or breaks something on purpose and ends
with the consistency check), run by pytest; a passed test is a survived fault. Last line:
one JSON object. Run: ``python bench/reliability.py [--quick] [--load-only]`` (or ``make
reliability``).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_dir, local_cluster, report
from raypachy.secrets import read_local_token
from tests.faults.bad_inputs import CASES, check_case, installation
from tests.faults.fuzz import run_fuzz
from tests.faults.gc_races import run_races
from tests.faults.load import run_load
from tests.faults.local_access import run_access_checks, token_sent_to_squatter
from tests.pg_server import start_pg_server

ROOT = Path(__file__).resolve().parents[1]

# Every test that breaks something on purpose: SIGKILLs, outages, full disks.
FAULT_TESTS = [
    "tests/faults/test_cluster_faults.py",
    "tests/faults/test_storage_faults.py",
    "tests/runtime/test_local_cluster.py::test_metadata_actor_sigkill_keeps_every_commit",
    "tests/runtime/test_local_cluster.py::test_api_actor_sigkill_comes_back",
    "tests/runtime/test_local_cluster.py::test_cli_killed_during_big_put_leaves_nothing",
    "tests/pfs/test_faults.py::test_writer_killed_mid_put_leaves_nothing_visible",
    "tests/pfs/test_faults.py::test_corrupted_chunk_is_reported_never_wrong_bytes",
]


def faults(work: Path) -> tuple[int, int, list[str]]:
    """Run the fault tests; (injected, survived, failures). Skipped tests inject nothing."""
    junit = work / "faults.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         *FAULT_TESTS],
        cwd=ROOT, capture_output=True, check=False,
    )  # fmt: skip
    injected = survived = 0
    failures = []
    for case in ET.parse(junit).iter("testcase"):
        if case.find("skipped") is not None:
            continue
        injected += 1
        if case.find("failure") is None and case.find("error") is None:
            survived += 1
        else:
            failures.append(case.get("name", "?"))
    return injected, survived, failures


def bad_inputs(work: Path) -> tuple[int, int, list[str]]:
    tried = rejected = 0
    problems = []
    with installation(work / "bad-inputs") as inst:
        for label in CASES:
            tried += 1
            problem = check_case(inst, label)
            if problem:
                problems.append(f"{label}: {problem}")
            else:
                rejected += 1
    return tried, rejected, problems


def load_and_access(work: Path, writers: int, commits: int):  # type: ignore[no-untyped-def]
    """The load test, and the rebinding/CSRF/local-user checks, on one `raypachy up` cluster."""
    with local_cluster(work / "load-home") as (env, url):
        home = Path(env["RAYPACHY_HOME"])
        token = read_local_token(home)
        assert token is not None, f"raypachy up wrote no token in {home}"
        checks = run_access_checks(url, token)
        squatter_tokens = token_sent_to_squatter(home)
        return run_load(url, writers, commits, home=str(home)), checks, squatter_tokens


def pg_load(work: Path, writers: int, commits: int):  # type: ignore[no-untyped-def]
    """The same load on a `raypachy up --metadata postgresql://...` cluster."""
    server = start_pg_server(durable=True)  # fsync on, as SQLite's synchronous=FULL
    try:
        url = server.create_database("raypachy")
        with local_cluster(work / "pg-load-home", {"RAYPACHY_METADATA": url}) as (env, api):
            return run_load(api, writers, commits, home=env["RAYPACHY_HOME"])
    finally:
        server.close()


def two_clusters_load(work: Path, writers: int, commits: int):  # type: ignore[no-untyped-def]
    """The load through two `raypachy up` clusters on one PostgreSQL and one storage: the
    writers of each branch take turns between them; nothing may be lost."""
    server = start_pg_server(durable=True)
    shared = {"RAYPACHY_STORAGE": f"file://{work / 'two-clusters-storage'}",
              "RAYPACHY_CONTROLLER_LEASE_S": "10"}  # fmt: skip
    try:
        url = server.create_database("raypachy")
        meta = {"RAYPACHY_METADATA": url, **shared}
        with (
            local_cluster(work / "two-a-home", meta) as (env_a, api_a),
            local_cluster(work / "two-b-home", meta) as (env_b, api_b),
        ):
            return run_load(api_a, writers, commits, home=env_a["RAYPACHY_HOME"],
                            others=((api_b, env_b["RAYPACHY_HOME"]),))  # fmt: skip
    finally:
        server.close()


def main() -> None:
    logging.getLogger("raypachy").setLevel(logging.ERROR)  # notes such as "started job ..."
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller fuzz and load")
    parser.add_argument("--load-only", action="store_true",
                        help="only the load tests: SQLite, PostgreSQL, two clusters")  # fmt: skip
    args = parser.parse_args()
    work = bench_dir() / "reliability"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    commits = 40 if args.quick else 200
    examples = 10 if args.quick else 50

    rows: list[tuple[str, str, str]] = []
    problems: list[str] = []
    result: dict[str, object] = {}
    if not args.load_only:
        injected, survived, fault_failures = faults(work)
        races = run_races(work / "gc-races", 40 if args.quick else 200)
        tried, rejected, bad = bad_inputs(work)
        with installation(work / "fuzz") as inst:
            tally = run_fuzz(inst, examples)
        rows += [
            ("faults injected / survived", f"{injected} / {survived}", "all survived"),
            ("gc races: rounds / survived", f"{races.rounds} / {races.survived}", "all survived"),
            ("gc races: fsck problems after them", str(len(races.fsck)), "0"),
            ("bad inputs tried / rejected cleanly", f"{tried} / {rejected}", "all rejected"),
            ("fuzz examples / 5xx seen", f"{tally.examples} / {len(tally.server_errors)}",
             "0 5xx"),
            ("fuzz rejections that changed state", str(len(tally.changed_by_rejection)), "0"),
        ]  # fmt: skip
        problems += [*fault_failures, *races.lost, *races.fsck, *bad, *tally.server_errors]
        problems += tally.changed_by_rejection
        result |= {
            "faults_injected": injected,
            "faults_survived": survived,
            "gc_races": races.rounds,
            "gc_races_survived": races.survived,
            "bad_inputs_tried": tried,
            "bad_inputs_rejected": rejected,
            "fuzz_examples": tally.examples,
            "fuzz_5xx": len(tally.server_errors),
        }
    lr, access, squatter_tokens = load_and_access(work, 8, commits)
    lost = len(lr.lost) + len(lr.broken_chains)
    pg = pg_load(work, 8, commits)
    pg_lost = len(pg.lost) + len(pg.broken_chains)
    two = two_clusters_load(work, 8, commits)
    two_lost = len(two.lost) + len(two.broken_chains)

    rows += [
        ("load: 8 writers x commits", f"8 x {commits} in {lr.seconds:.1f} s", ""),
        ("load: commits/s held", f"{lr.commits_per_s:.1f}", ""),
        ("load: lost commits", str(lost), "0"),
        ("load: output commits with bad provenance", str(len(lr.bad_provenance)), "0"),
        ("load: fsck --deep problems after the run", str(len(lr.fsck_problems)), "0"),
        ("load: pipeline jobs / gc runs / gc refused",
         f"{lr.jobs} / {lr.gc_runs} / {lr.gc_refused}", ""),
        ("load: pipeline caught up after the writers", f"{lr.catch_up_s:.1f} s", ""),
        ("load, PostgreSQL metadata: commits/s held", f"{pg.commits_per_s:.1f}",
         f"SQLite {lr.commits_per_s:.1f}"),
        ("load, PostgreSQL metadata: lost commits", str(pg_lost), "0"),
        ("load, PostgreSQL metadata: bad provenance / fsck problems",
         f"{len(pg.bad_provenance)} / {len(pg.fsck_problems)}", "0 / 0"),
        ("load, PostgreSQL metadata: pipeline caught up after", f"{pg.catch_up_s:.1f} s",
         f"SQLite {lr.catch_up_s:.1f} s"),
        ("load, two clusters on one PostgreSQL: commits/s held", f"{two.commits_per_s:.1f}",
         f"one cluster {pg.commits_per_s:.1f}"),
        ("load, two clusters on one PostgreSQL: lost commits", str(two_lost), "0"),
        ("load, two clusters: bad provenance / fsck problems",
         f"{len(two.bad_provenance)} / {len(two.fsck_problems)}", "0 / 0"),
        *[(f"local API: {c.label}", f"{'yes' if c.refused else 'NO'} ({c.status})",
           f"yes ({c.expected})") for c in access],
        ("local API: token sent to a server squatting on the port", str(squatter_tokens), "0"),
    ]  # fmt: skip
    problems += [*lr.lost, *lr.broken_chains, *lr.bad_provenance, *lr.fsck_problems]
    problems += [f"postgres: {p}" for p in
                 (*pg.lost, *pg.broken_chains, *pg.bad_provenance, *pg.fsck_problems)]  # fmt: skip
    two_problems = (*two.lost, *two.broken_chains, *two.bad_provenance, *two.fsck_problems)
    problems += [f"two clusters: {p}" for p in two_problems]
    problems += [f"local API served: {c.label} ({c.status})" for c in access if not c.refused]
    for problem in problems[:20]:
        print("problem:", problem)
    result |= {
        "load_commits_per_s": round(lr.commits_per_s, 1),
        "lost_commits": lost,
        "pg_load_commits_per_s": round(pg.commits_per_s, 1),
        "pg_lost_commits": pg_lost,
        "two_clusters_commits_per_s": round(two.commits_per_s, 1),
        "two_clusters_lost_commits": two_lost,
        "local_access_refused": sum(c.refused for c in access),
        "local_access_checks": len(access),
        "token_sent_to_squatter": squatter_tokens,
    }
    report("raypachy reliability", rows, result)


if __name__ == "__main__":
    main()
