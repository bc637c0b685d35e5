"""A command datum acting as its pipeline does not see raypachy's home (the cluster's token,
the metadata): its private mount namespace covers it with an empty tmpfs."""

from __future__ import annotations

from pathlib import Path

from raypachy.pps.sandbox import HiddenHome, run_command
from tests.pps.conftest import needs_sandbox


@needs_sandbox
def test_a_hidden_home_is_empty_inside_the_command_and_untouched_outside(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text("the-cluster-token")
    pfs = tmp_path / "scratch" / "pfs"
    (pfs / "out").mkdir(parents=True)
    hide = HiddenHome(str(home), "http://127.0.0.1:1").hides(str(pfs))
    assert hide == (str(home.resolve()),)
    script = f'ls -A {home} > /pfs/out/seen; cat {home}/token; echo "cat=$?"; touch {home}/x'
    result = run_command(["sh", "-c", script], b"", {}, str(pfs), "/pfs", 30, hide=hide)
    assert b"the-cluster-token" not in result.output
    assert b"cat=1" in result.output
    assert (pfs / "out" / "seen").read_bytes() == b""  # /pfs still works beside it
    assert sorted(p.name for p in home.iterdir()) == ["token"]  # its writes went nowhere
    # Without hiding, the same command sees the file (what the hiding takes away).
    plain = run_command(["sh", "-c", f"cat {home}/token"], b"", {}, str(pfs), "/pfs", 30)
    assert plain.output == b"the-cluster-token"


def test_a_home_that_is_missing_or_holds_the_scratch_is_not_covered(tmp_path: Path) -> None:
    assert HiddenHome(str(tmp_path / "absent"), "http://x").hides(str(tmp_path)) == ()
    scratch = tmp_path / "home" / "scratch"
    scratch.mkdir(parents=True)  # RAYPACHY_SCRATCH inside the home: the datum needs it
    assert HiddenHome(str(tmp_path / "home"), "http://x").hides(str(scratch)) == ()
