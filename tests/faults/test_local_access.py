"""The cluster `raypachy up` starts, attacked for real: DNS rebinding, cross-site requests and
other local users get nothing, and its home keeps its token to its owner."""

from __future__ import annotations

import os
import stat

import pytest

from tests.conftest import LocalCluster
from tests.faults.local_access import run_access_checks, token_sent_to_squatter

pytestmark = [pytest.mark.ray, pytest.mark.faults]


def test_the_local_cluster_refuses_what_a_web_page_or_a_local_user_sends(
    local_cluster: LocalCluster,
) -> None:
    checks = run_access_checks(local_cluster.api_url, local_cluster.token)
    assert [c.label for c in checks if not c.refused] == [], checks
    assert len(checks) == 4
    assert token_sent_to_squatter(local_cluster.home) == 0


def test_up_keeps_its_home_private(local_cluster: LocalCluster) -> None:
    home = local_cluster.home
    modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in (home, *home.iterdir())}
    assert modes[home.name] == 0o700 and modes["token"] == 0o600
    assert modes["cluster.json"] == 0o600 and modes["metadata.db"] == 0o600
    assert modes["logs"] == 0o700 and modes["storage"] == 0o700
    for log in (home / "logs").iterdir():
        assert stat.S_IMODE(os.stat(log).st_mode) == 0o600, log
