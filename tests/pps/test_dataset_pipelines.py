"""Dataset pipelines without Ray: the spec they make, what they refuse, how output rows are
checked, and that in process they are refused in one line (they run on Ray Data)."""

from __future__ import annotations

from pathlib import Path

import pytest

import raypachy
from raypachy.errors import InvalidSpecError
from raypachy.pps.datasets import OutputRows, fold, missing_columns
from raypachy.pps.spec import check_supported, parse_spec
from raypachy.storage import ChunkStore, FileSetWriter, ManifestStore, open_backend
from raypachy.storage.reader import read_bytes
from tests.pps.conftest import Local


def _identity(ds):  # type: ignore[no-untyped-def]
    return ds


def test_the_spec_records_a_dataset_function() -> None:
    p = raypachy.pipeline(_identity, input=raypachy.pfs("imgs", glob="/*"), dataset=True)
    spec = p.build("ab" * 32)
    assert spec.transform.python is not None and spec.transform.python.kind == "dataset"
    assert "dataset" not in spec.to_json()  # not a spec field of its own
    plain = p.options(dataset=False).build("ab" * 32)
    assert plain.transform.python is not None and plain.transform.python.kind == "function"


def test_options_that_do_not_apply_are_refused_in_one_line() -> None:
    inp = raypachy.pfs("imgs", glob="/*")

    class Model:
        def __call__(self, datum):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(InvalidSpecError, match="takes a function f\\(ds\\) -> ds, not the class"):
        raypachy.pipeline(Model, input=inp, dataset=True)
    with pytest.raises(InvalidSpecError, match="concurrency does not apply to the dataset"):
        raypachy.pipeline(_identity, input=inp, dataset=True, concurrency=2)
    with pytest.raises(InvalidSpecError, match="a GPU request does not apply to a dataset"):
        raypachy.pipeline(_identity, input=inp, dataset=True, num_gpus=1).build("ab" * 32)
    with pytest.raises(InvalidSpecError, match="parallelism_spec does not apply to a dataset"):
        raypachy.pipeline(_identity, input=inp, dataset=True, parallelism=2).build("ab" * 32)
    with pytest.raises(InvalidSpecError, match="datum_tries does not apply to a dataset"):
        raypachy.pipeline(_identity, input=inp, dataset=True, datum_tries=1).build("ab" * 32)
    with pytest.raises(InvalidSpecError, match="expected bool"):
        raypachy.pipeline(_identity, input=inp, dataset="yes")
    spec = raypachy.pipeline(_identity, input=inp, dataset=True).build("ab" * 32).to_json()
    with pytest.raises(InvalidSpecError, match=r"drop input\.pfs\.s3 and s3_out"):
        check_supported(parse_spec({**spec, "s3_out": True}))
    secret = {"transform": {**spec["transform"], "secrets": [{"name": "db", "key": "k",
                                                             "env_var": "K"}]}}  # fmt: skip
    with pytest.raises(InvalidSpecError, match=r"transform\.secrets is not supported for a data"):
        check_supported(parse_spec({**spec, **secret}))
    with pytest.raises(InvalidSpecError, match=r"ray\.keep_warm_s does not apply"):
        check_supported(parse_spec({**spec, "ray": {"keep_warm_s": 5}}))


def test_in_process_a_dataset_pipeline_fails_its_job_saying_it_needs_ray(local: Local) -> None:
    local.pfs.create_repo("imgs")
    local.put("imgs", {"/a": b"1"})
    local.create(raypachy.pipeline(_identity, input=raypachy.pfs("imgs", glob="/*"),
                                   name="embed", dataset=True))  # fmt: skip
    [job] = local.run()
    assert job.state == "failure"
    assert job.reason == (
        "pipeline embed is a dataset pipeline (dataset=True): it runs on Ray Data, on a "
        "raypachy cluster (raypachy up), not in process"
    )
    assert local.files("embed") == {}


def _writer(tmp_path: Path) -> FileSetWriter:
    backend = open_backend(f"file://{tmp_path / 'storage'}")
    return FileSetWriter(ChunkStore(backend), ManifestStore(backend), threads=1)


def test_output_rows_become_files_and_the_first_bad_row_is_named(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    rows = OutputRows("p", frozenset({"d1", "d2"}))
    rows.add(writer, "d1", "/out//a.txt", b"A")
    rows.add(writer, "d2", "/b.txt", "text")  # a str is written as UTF-8
    rows.add(writer, "d2", "/out/a.txt", b"again")  # another datum's: the merge names both
    assert rows.problem == ""
    assert rows.outputs == {"d1": ["/out/a.txt"], "d2": ["/b.txt", "/out/a.txt"]}
    layer = writer.close()
    entries = {e.path: read_bytes(writer.chunks, e.data) for e in writer.manifests.open(layer.id)}
    assert entries == {"/out/a.txt": b"A", "/b.txt": b"text"}

    for datum, path, data, problem in [
        ("zz", "/x", b"", "datum_id 'zz', which is not a datum of this run"),
        (None, "/x", b"", "datum_id None, which is not a datum of this run"),
        ("d1", "x", b"", "path 'x' is relative"),
        ("d1", "/../x", b"", "contains '.' or '..'"),
        ("d1", "/x", 5, "has bytes of type int: give bytes"),
    ]:
        rows = OutputRows("p", frozenset({"d1"}))
        rows.add(_writer(tmp_path), datum, path, data)
        assert problem in rows.problem and rows.problem.startswith("pipeline p: ")
    rows = OutputRows("p", frozenset({"d1"}))
    w = _writer(tmp_path)
    rows.add(w, "d1", "/x", b"1")
    rows.add(w, "d1", "/x", b"2")
    assert (
        rows.problem
        == "pipeline p: datum d1 has two output rows for /x: give each row its own path"
    )
    assert missing_columns("p", ["datum_id", "path", "bytes", "extra"]) == ""
    assert missing_columns("p", ["datum_id", "size"]) == (
        "pipeline p: the dataset it returns has no column path, bytes (it has datum_id, size): "
        "return one row per output file with datum_id, path and bytes"
    )


def test_fold_joins_the_write_tasks_layers_and_finds_a_datum_written_twice(
    tmp_path: Path,
) -> None:
    parts = []
    for datum, path in (("d1", "/a"), ("d2", "/b"), ("d1", "/c")):
        w = _writer(tmp_path)
        rows = OutputRows("p", frozenset({"d1", "d2"}))
        rows.add(w, datum, path, path.encode())
        parts.append((w.close().id, rows.outputs, ""))
    writer = _writer(tmp_path)
    outputs, problem = fold("p", writer, parts)
    assert problem == "" and outputs == {"d1": ["/a", "/c"], "d2": ["/b"]}
    layer = writer.close()
    assert [e.path for e in writer.manifests.open(layer.id)] == ["/a", "/b", "/c"]
    _, problem = fold("p", _writer(tmp_path), [*parts, parts[0]])
    assert problem == "pipeline p: datum d1 has two output rows for /a: give each row its own path"
    _, problem = fold("p", _writer(tmp_path), [parts[0], ("", {}, "pipeline p: bad row")])
    assert problem == "pipeline p: bad row"
