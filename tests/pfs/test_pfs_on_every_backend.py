"""The same PFS workflow on memory, file and S3 (SeaweedFS) storage."""

from __future__ import annotations

import os
from pathlib import Path

from raypachy.pfs import PFS
from raypachy.pfs.metadata import open_store


def test_workflow(storage_uri: str, tmp_path: Path) -> None:
    pfs = PFS(open_store(str(tmp_path / "metadata.db")), storage_uri)
    pfs.create_repo("r")
    big = os.urandom(6 << 20)
    with pfs.modify("r@master") as m:
        m.put("/big.bin", big)
        for i in range(50):
            m.put(f"/small/{i:03d}", f"row {i}\n".encode())
    c2 = pfs.put_file("r@master", "/small/007", b"changed\n")
    assert pfs.get_file("r@master", "/big.bin") == big
    assert pfs.get_file("r@master^", "/small/007") == b"row 7\n"
    assert [(c.path, c.change) for c in pfs.diff_files("r@master")] == [("/small/007", "modified")]
    assert c2.file_count == 51
    pfs.delete_commit(c2.id)
    report = pfs.gc()
    assert report.chunks_deleted == 1  # the chunk that held only "changed\n"
    assert pfs.get_file("r@master", "/small/007") == b"row 7\n"
    again = PFS(open_store(str(tmp_path / "metadata.db")), storage_uri)
    assert again.get_file("r@master", "/big.bin") == big
