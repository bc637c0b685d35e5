"""``with fs.transaction:``: every file written and removed inside becomes one commit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fsspec.transaction import Transaction

if TYPE_CHECKING:
    from raypachy.fs.paths import FsPath

#: One change of a transaction: ("put", path, the file written) or ("delete", path, None).
Op = tuple[Literal["put", "delete"], "FsPath", Any]


class RaypachyTransaction(Transaction):  # type: ignore[misc]
    """Collects changes on one branch; at the end they are one commit, or nothing at all."""

    fs: Any

    def __init__(self, fs: Any, **kwargs: Any) -> None:
        super().__init__(fs)
        self.target: str | None = None  # the branch (repo@branch) this transaction writes
        self.ops: list[Op] = []

    def start(self) -> None:
        super().start()
        self.target, self.ops = None, []

    def complete(self, commit: bool = True) -> None:
        fs = self.fs
        files, ops = list(self.files), self.ops
        self.files.clear()
        self.target, self.ops = None, []
        try:
            if commit:
                for f in files:
                    if not f.closed:
                        f.close()  # flushes into the spool; the commit is made below
                fs.publish(ops)
        finally:
            for f in files:
                f.discard()
            fs._intrans = False
            fs._transaction = None
            self.fs = None
