"""Repo, commit, branch and file verbs, as pachctl spells them."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import click

from raypachy.cli.context import client, output_option, page_options, progress
from raypachy.cli.render import ago, emit, human_size, print_json, say
from raypachy.errors import InvalidAddressError
from raypachy.pfs.address import parse_address
from raypachy.pfs.localtree import local_tree
from raypachy.pfs.model import Branch, Commit, FileChange, FileInfo, Repo, Trigger, to_json
from raypachy.pfs.names import is_commit_id


def _repo_cells(r: Repo) -> list[str]:
    return [r.project, r.name.rpartition("/")[2], ago(r.created), human_size(r.size_bytes),
            r.description]  # fmt: skip


REPO_COLUMNS = ["PROJECT", "NAME", "CREATED", "SIZE", "DESCRIPTION"]


def _commit_cells(c: Commit) -> list[str]:
    return [
        c.repo,
        c.branch or "-",
        c.id,
        ago(c.finished) if c.finished else "open",
        human_size(c.size_bytes),
        c.origin.upper(),
        c.error or c.description,
    ]


COMMIT_COLUMNS = ["REPO", "BRANCH", "COMMIT", "FINISHED", "SIZE", "ORIGIN", "DESCRIPTION"]


def _file_cells(f: FileInfo) -> list[str]:
    return [f.path, f.type, human_size(f.size_bytes)]


#: A put of at most this many bytes goes through the API in one request: cheaper than
#: loading the chunking stack here (the server chunks it with the same guarantees), unless
#: ``RAYPACHY_DATA_PLANE=direct`` asks for the direct data plane.
SMALL_PUT_BYTES = 1 << 20


def _split_file_arg(text: str) -> tuple[str, str]:
    """``repo@ref:/path`` -> (``repo@ref``, ``/path``); the path may be a glob pattern."""
    head, sep, path = text.partition(":")
    if not sep:
        raise InvalidAddressError(f"address {text!r} names no file: add ':/path'")
    parse_address(head)
    return head, path or "/"


# --- repos -------------------------------------------------------------------------------


@click.command("repo")
@click.argument("name")
@click.option("-d", "--description", default="", help="What the repo holds.")
@click.option("--update", is_flag=True, help="Update the description if the repo exists.")
def create_repo(name: str, description: str, update: bool) -> None:
    """Create a repo."""
    client().create_repo(name, description=description, update=update)


@click.command("repo")
@output_option
def list_repo(output: str | None) -> None:
    """List repos."""
    emit(output, client().list_repos(), REPO_COLUMNS, _repo_cells)


@click.command("repo")
@click.argument("name")
@output_option
def inspect_repo(name: str, output: str | None) -> None:
    """Show one repo."""
    emit(output, client().inspect_repo(name), REPO_COLUMNS, _repo_cells)


@click.command("repo")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete it even if pipelines read or write it.")
def delete_repo(name: str, force: bool) -> None:
    """Delete a repo with its branches and commits (gc reclaims the bytes).

    A repo that pipelines read or write is refused, naming them; --force deletes it anyway
    and says what breaks.
    """
    for line in client().delete_repo(name, force=force):
        say(f"warning: {line}")


# --- commits -----------------------------------------------------------------------------


@click.command("commit")
@click.argument("target", metavar="REPO@BRANCH")
@click.option("-p", "--parent", help="Parent commit id (default: the branch head).")
@click.option(
    "-d", "--description", "-m", "--message", "description", default="",
    help="What this commit is for.",
)  # fmt: skip
def start_commit(target: str, parent: str | None, description: str) -> None:
    """Open a commit on a branch; prints its id."""
    commit = client().start_commit(target, parent=parent, description=description)
    click.echo(commit.id)


@click.command("commit")
@click.argument("target", metavar="REPO@BRANCH|REPO@ID")
@click.option("--error", help="Finish the commit with this error.")
@click.option(
    "-d", "--description", "-m", "--message", "description", help="Replace the description."
)
def finish_commit(target: str, error: str | None, description: str | None) -> None:
    """Finish an open commit."""
    client().finish_commit(target, error=error, description=description)


@click.command("commit")
@click.argument("target", required=False, metavar="[REPO[@BRANCH]|ID]")
@page_options("commits", "REPO@ID")
@output_option
def list_commit(
    target: str | None, limit: int | None, start_after: str | None, output: str | None
) -> None:
    """List commits: a branch's history, a repo's commits, a commit set, or all."""
    c = client()
    if target and len(target) == 32 and "@" not in target:
        commits = c.commit_set(target)[:limit]
    elif target:
        addr = parse_address(target)
        if addr.path:
            raise InvalidAddressError(
                f"list commit lists a branch's commits and takes no path: drop ':{addr.path}' "
                f"(`raypachy diff file {addr.repo}@ID:{addr.path}` shows what a commit changed)"
            )
        commits = c.list_commits(addr.repo, addr.ref, limit=limit, start_after=start_after)
    else:
        commits = c.list_commits(limit=limit, start_after=start_after)
    emit(output, commits, COMMIT_COLUMNS, _commit_cells)


@click.command("commit")
@click.argument("target", metavar="REPO@REF")
@output_option
def inspect_commit(target: str, output: str | None) -> None:
    """Show one commit (``repo@branch^2`` works)."""
    emit(output, client().inspect_commit(target), COMMIT_COLUMNS, _commit_cells)


@click.command("commit")
@click.argument("target", metavar="ID|REPO@ID")
def delete_commit(target: str) -> None:
    """Delete a commit set (or one repo's commit); branches move back to the parent."""
    for name in client().delete_commit(target):
        say(f"deleted {name}")


@click.command("commit")
@click.argument("target", metavar="ID|REPO@ID")
def squash_commit(target: str) -> None:
    """Remove a commit set, keeping its changes in its children."""
    for name in client().squash_commit(target):
        say(f"squashed {name}")


@click.command("commit")
@click.argument("target", metavar="REPO@REF|ID")
@click.option("--timeout", type=float, help="Give up after this many seconds.")
@output_option
def wait_commit(target: str, timeout: float | None, output: str | None) -> None:
    """Block until a commit (or every commit of a commit set) is finished."""
    c = client()
    if len(target) == 32 and "@" not in target:
        # A global id: every commit and job it triggered, down the whole DAG.
        emit(output, c.wait_commit_set(target, timeout=timeout), COMMIT_COLUMNS, _commit_cells)
    else:
        emit(output, c.wait_commit(target, timeout=timeout), COMMIT_COLUMNS, _commit_cells)


@click.command("commit")
@click.argument("target", metavar="REPO@BRANCH")
@click.option("--all", "from_start", is_flag=True, help="Start with the existing commits.")
@click.option("--timeout", type=float, help="Stop after this many seconds.")
@output_option
def subscribe_commit(
    target: str, from_start: bool, timeout: float | None, output: str | None
) -> None:
    """Print each new finished commit on a branch as it lands (one line each)."""
    addr = parse_address(target)
    for commit in client().subscribe_commits(
        addr.repo, addr.ref or "master", timeout=timeout, from_start=from_start
    ):
        if output == "json":
            print_json(commit)
        else:
            size = human_size(commit.size_bytes)
            click.echo(f"{commit.repo}@{commit.id}\t{commit.branch or '-'}\t{size}")
        sys.stdout.flush()


@click.command("commit")
@click.argument("target", metavar="REPO@BRANCH:/PATH")
@output_option
def find_commit(target: str, output: str | None) -> None:
    """List the commits of a branch's history that changed a path, newest first."""
    commit_target, path = _split_file_arg(target)
    emit(output, client().find_commits(commit_target, path), COMMIT_COLUMNS, _commit_cells)


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not key=value", param_hint=flag)
        out[key] = val
    return out


@click.command("metadata")
@click.argument("kind", type=click.Choice(["commit", "repo", "branch"]))
@click.argument("target", metavar="REPO|REPO@BRANCH|REPO@ID")
@click.option("--add", multiple=True, metavar="KEY=VALUE", help="Add a new key.")
@click.option("--replace", multiple=True, metavar="KEY=VALUE", help="Change a key's value.")
@click.option("--remove", multiple=True, metavar="KEY", help="Remove a key.")
@output_option
def edit_metadata(
    kind: str, target: str, add: tuple[str, ...], replace: tuple[str, ...],
    remove: tuple[str, ...], output: str | None,
) -> None:  # fmt: skip
    """Edit the key-value metadata of a commit, a repo or a branch (a bad edit changes
    nothing); prints the metadata as it is now."""
    if not (add or replace or remove):
        raise click.UsageError("give at least one of --add, --replace, --remove")
    found = client().edit_metadata(
        kind, target, add=_pairs(add, "--add"), remove=list(remove),
        replace=_pairs(replace, "--replace"),
    )  # fmt: skip
    if output == "json":
        print_json(found)
    else:
        for key, value in sorted(found.items()):
            click.echo(f"{key}={value}")


# --- branches ----------------------------------------------------------------------------


@click.command("branch")
@click.argument("target", metavar="REPO@BRANCH")
@click.option("--head", help="Commit or branch to point at (default: no commit).")
@click.option(
    "--trigger",
    "trigger_branch",
    metavar="BRANCH",
    help="Follow this branch's head when the --trigger-* conditions hold.",
)
@click.option(
    "--trigger-size",
    default="",
    metavar="SIZE",
    help="...once its head grew by SIZE (100MB, 1Gi) since this branch moved.",
)
@click.option(
    "--trigger-commits",
    default=0,
    type=click.IntRange(min=0),
    metavar="N",
    help="...once N commits landed on it since this branch moved.",
)
@click.option(
    "--trigger-cron",
    default="",
    metavar="SPEC",
    help="...once a slot of this schedule passed (@every 1h, 0 * * * *).",
)
@click.option("--trigger-all", is_flag=True, help="Only when every condition holds (default: any).")
@click.option(
    "--no-trigger", is_flag=True, help="Drop the branch's trigger (without it, a trigger stays)."
)
def create_branch(
    target: str, head: str | None, trigger_branch: str | None, trigger_size: str,
    trigger_commits: int, trigger_cron: str, trigger_all: bool, no_trigger: bool,
) -> None:  # fmt: skip
    """Create a branch, or move it to --head; --trigger makes it follow another branch (as
    Pachyderm's deferred processing: staging takes every commit, master moves in batches).
    As pachctl, an existing trigger stays unless --trigger replaces or --no-trigger drops it."""
    addr = parse_address(target)
    if addr.ref is None:
        raise InvalidAddressError(f"{target!r} names no branch: use repo@branch")
    conditions = trigger_size or trigger_commits or trigger_cron or trigger_all
    if no_trigger and (trigger_branch is not None or conditions):
        raise click.UsageError("--no-trigger drops the trigger: give no --trigger* with it")
    if no_trigger:
        client().create_branch(addr.repo, addr.ref, head=head, trigger=None)
        return
    if trigger_branch is None:
        if conditions:
            raise click.UsageError("--trigger-size/-commits/-cron/-all need --trigger BRANCH")
        client().create_branch(addr.repo, addr.ref, head=head)
        return
    trigger = Trigger(trigger_branch, trigger_size, trigger_commits, trigger_cron, trigger_all)
    client().create_branch(addr.repo, addr.ref, head=head, trigger=trigger)


@click.command("branch")
@click.argument("repo")
@output_option
def list_branch(repo: str, output: str | None) -> None:
    """List a repo's branches."""
    emit(output, client().list_branches(repo), ["BRANCH", "HEAD", "TRIGGER"], _branch_cells)


def _branch_cells(b: Branch) -> list[str]:
    return [b.name, b.head or "-", _trigger_text(b.trigger)]


def _trigger_text(t: Trigger | None) -> str:
    if t is None:
        return "-"
    conds = [f"size>={t.size}" if t.size else "", f"commits>={t.commits}" if t.commits else "",
             f"cron {t.cron_spec}" if t.cron_spec else ""]  # fmt: skip
    joined = (" and " if t.all else " or ").join(c for c in conds if c)
    return f"{t.branch}" + (f" ({joined})" if joined else "")


@click.command("branch")
@click.argument("target", metavar="REPO@BRANCH")
@output_option
def inspect_branch(target: str, output: str | None) -> None:
    """Show one branch: its head, metadata and trigger."""
    addr = parse_address(target)
    if addr.ref is None:
        raise InvalidAddressError(f"{target!r} names no branch: use repo@branch")
    emit(output, client().inspect_branch(addr.repo, addr.ref), ["BRANCH", "HEAD", "TRIGGER"],
         _branch_cells)  # fmt: skip


@click.command("branch")
@click.argument("target", metavar="REPO@BRANCH")
def delete_branch(target: str) -> None:
    """Delete a branch (its commits stay)."""
    addr = parse_address(target)
    if addr.ref is None:
        raise InvalidAddressError(f"{target!r} names no branch: use repo@branch")
    client().delete_branch(addr.repo, addr.ref)


# --- files -------------------------------------------------------------------------------


@click.command("file")
@click.argument("target", metavar="REPO@BRANCH:/PATH")
@click.option(
    "-f", "--file", "source",
    help="Local file, directory (-r), - for stdin, or a URL: https://host/x.csv, "
    "s3://bucket/key, s3://bucket/prefix with -r.",
)  # fmt: skip
@click.option(
    "-i", "--input-file", "url_file", help="A file of URLs to put, one a line (- for stdin)."
)
@click.option("-r", "--recursive", is_flag=True, help="Put a whole local directory or s3 prefix.")
@click.option("-a", "--append", is_flag=True, help="Append instead of overwriting.")
@click.option("--untar", is_flag=True, help="Unpack tar archives (URLs) below the path.")
@click.option("-m", "--message", help="The description of the commit this put makes.")
def put_file(
    target: str, source: str | None, url_file: str | None, recursive: bool, append: bool,
    untar: bool, message: str | None,
) -> None:  # fmt: skip
    """Put a local file, a directory tree (-r), stdin (-f -) or URLs (-f URL, -i FILE) into a
    repo. URLs are fetched by this client; if one fails, nothing is committed."""
    if (source is None) == (url_file is None):
        raise click.UsageError("give one of -f SOURCE or -i FILE")
    if message is None:
        _put(target, source, url_file, recursive, append, untar)
        return
    commit_target, path = _split_file_arg(target)
    ref = parse_address(commit_target).ref
    if ref is not None and is_commit_id(ref):
        raise click.UsageError(
            "-m describes the commit a put makes on a branch: to describe an open commit, "
            f"give it on `raypachy finish commit {commit_target} -m ...`"
        )
    c = client()
    opened = c.start_commit(commit_target, description=message)
    try:
        _put(f"{opened.repo}@{opened.id}:{path}", source, url_file, recursive, append, untar)
    except BaseException:
        c.delete_commit(f"{opened.repo}@{opened.id}")  # nothing of a failed put stays
        raise
    c.finish_commit(f"{opened.repo}@{opened.id}")


def _put(
    target: str, source: str | None, url_file: str | None, recursive: bool, append: bool,
    untar: bool,
) -> None:  # fmt: skip
    from raypachy.client.ingest import is_url  # only put file reads URLs: keep the CLI quick

    if url_file is not None or (source is not None and is_url(source)):
        _put_urls(target, source, url_file, recursive, append, untar)
        return
    assert source is not None
    if untar:
        raise click.UsageError("--untar unpacks archives fetched from URLs: give -f URL or -i FILE")
    commit_target, path = _split_file_arg(target)
    c = client()
    local = Path(source)
    if source != "-" and (recursive or local.is_dir()):
        if not local.is_dir():
            raise click.BadParameter(f"{source} is not a directory", param_hint="-f")
    elif source != "-" and not local.is_file():
        raise click.BadParameter(f"local file {source} not found", param_hint="-f")
    stdin: BinaryIO = sys.stdin.buffer
    if os.environ.get("RAYPACHY_DATA_PLANE") == "direct":  # asked for: chunks from here
        pass
    elif source == "-":
        head = stdin.read(SMALL_PUT_BYTES + 1)
        if len(head) <= SMALL_PUT_BYTES:
            c.upload_file(commit_target, path, head, append=append)
            return
        stdin = cast(BinaryIO, _Replay(head, stdin))
    elif not local.is_dir() and local.stat().st_size <= SMALL_PUT_BYTES:
        c.upload_file(commit_target, path, local, append=append)
        return
    if not c.direct_storage:
        _put_through_api(c, commit_target, path, source, append, stdin)
    elif source == "-":
        with progress("put", None) as tick, c.modify(commit_target, on_progress=tick) as m:
            m.put(path, stdin, append=append)
    elif local.is_dir():
        total = sum(f.stat().st_size for _, f in local_tree(local).files)
        with progress("put", total) as tick, c.modify(commit_target, on_progress=tick) as m:
            skipped = m.put_tree(path, local)
        for line in skipped:  # links that leave the directory are never followed
            sys.stderr.write(f"skipped link {line}\n")
    else:
        with (
            progress("put", local.stat().st_size) as tick,
            c.modify(commit_target, on_progress=tick) as m,
        ):
            m.put(path, local, append=append)


def _put_urls(
    target: str, source: str | None, url_file: str | None, recursive: bool, append: bool,
    untar: bool,
) -> None:  # fmt: skip
    from raypachy.client.ingest import put_urls, read_url_list

    if append:
        raise click.UsageError("-a appends local data: drop it to put files from URLs")
    if url_file is not None:
        try:
            text = sys.stdin.read() if url_file == "-" else Path(url_file).read_text()
        except OSError as e:
            raise click.BadParameter(
                f"cannot read {url_file}: {e.strerror}", param_hint="-i"
            ) from None
        urls = read_url_list(text)
    else:
        assert source is not None
        urls = [source]
    commit_target, path = _split_file_arg(target)
    c = client()
    with progress("put", None) as tick:
        put_urls(c, commit_target, path, urls, recursive=recursive, untar=untar,
                 on_progress=tick if c.direct_storage else None)  # fmt: skip


def _put_through_api(
    c: Any, target: str, path: str, source: str, append: bool, stdin: BinaryIO
) -> None:
    """For a client that cannot reach the storage: the bytes go through the API, a file per
    request (a directory's files into one commit)."""
    local = Path(source)
    if source != "-" and local.is_dir():
        if append:
            raise click.UsageError("-a appends to one file: drop it, or put the files one by one")
        with warnings.catch_warnings():  # the skipped links are said below, one a line
            warnings.simplefilter("ignore")
            c.put_dir(target, path, local)
        for line in local_tree(local).skipped:  # links that leave the directory
            sys.stderr.write(f"skipped link {line}\n")
        return
    total = None if source == "-" else local.stat().st_size
    with (
        progress("put", total) as tick,
        contextlib.nullcontext(stdin) if source == "-" else open(local, "rb") as f,
    ):
        c.put_file(target, path, _pieces(f, tick), append=append)


class _Replay(io.RawIOBase):
    """The bytes already read from a stream, then the rest of it."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            n = len(self._head) if size is None or size < 0 else size
            piece, self._head = self._head[:n], self._head[n:]
            return piece
        return self._rest.read(size)

    def readinto(self, buf: Any) -> int:
        piece = self.read(len(buf))
        buf[: len(piece)] = piece
        return len(piece)


def _pieces(f: Any, tick: Callable[[int], None] | None) -> Iterator[bytes]:
    while piece := f.read(1 << 20):
        if tick is not None:
            tick(len(piece))
        yield piece


@click.command("file")
@click.argument("target", metavar="REPO@REF:/PATH")
@click.option("-o", "--output", "dest", help="Write to this local path (a directory for -r).")
def get_file(target: str, dest: str | None) -> None:
    """Print a file (or write it, or a directory, to a local path with -o)."""
    commit_target, path = _split_file_arg(target)
    c = client()
    if dest:
        info = c.inspect_file(commit_target, path)
        with progress("get", info.size_bytes) as tick:
            c.get_to(commit_target, path, dest, on_progress=tick)
        return
    out = sys.stdout.buffer
    for piece in c.open_file(commit_target, path):
        out.write(piece)
    out.flush()


def _history(text: str | None) -> int | None:
    if text is None:
        return None
    if text == "all":
        return -1
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise click.BadParameter(
        f"{text!r}: give a number of versions >= 1, or all", param_hint="--history"
    )


@click.command("file")
@click.argument("target", metavar="REPO@REF[:/DIR]")
@click.option(
    "--history", "history", metavar="N|all",
    help="Each of the last N versions (or all) of the path, with the commit that wrote it.",
)  # fmt: skip
@page_options("entries", "PATH")
@output_option
def list_file(
    target: str, history: str | None, limit: int | None, start_after: str | None,
    output: str | None,
) -> None:  # fmt: skip
    """List a directory (or, with --history, the versions of a file or of a directory's
    entries)."""
    commit_target, _, path = target.partition(":")
    versions = _history(history)
    if versions is not None:
        found = client().file_history(commit_target, path or "/", versions)
        emit(output, found, ["NAME", "TYPE", "SIZE", "COMMIT"],
             lambda f: [*_file_cells(f), f.commit.id])  # fmt: skip
        return
    emit(
        output,
        client().list_files(commit_target, path or "/", limit=limit, start_after=start_after),
        ["NAME", "TYPE", "SIZE"],
        _file_cells,
    )


@click.command("file")
@click.argument("target", metavar="REPO@REF:PATTERN")
@page_options("matches", "PATH")
@output_option
def glob_file(target: str, limit: int | None, start_after: str | None, output: str | None) -> None:
    """List the files and directories a glob pattern matches (what datums a glob makes)."""
    commit_target, pattern = _split_file_arg(target)
    found = client().glob_files(commit_target, pattern, limit=limit, start_after=start_after)
    emit(output, found, ["NAME", "TYPE", "SIZE"], _file_cells)


@click.command("file")
@click.argument("new", metavar="REPO@REF[:/PATH]")
@click.argument("old", required=False, metavar="[REPO@REF]")
@output_option
def diff_file(new: str, old: str | None, output: str | None) -> None:
    """Show what changed between two commits (default: against the parent)."""
    commit_target, _, path = new.partition(":")
    old_target = old.partition(":")[0] if old else None
    changes = client().diff_files(commit_target, old_target, path or "/")

    def cells(ch: FileChange) -> list[str]:
        size = ch.new.size_bytes if ch.new else ch.old.size_bytes if ch.old else 0
        return [ch.change, ch.path, human_size(size)]

    emit(output, changes, ["CHANGE", "PATH", "SIZE"], cells)


@click.command("file")
@click.argument("src", metavar="SRC_REPO@REF:/PATH")
@click.argument("dst", metavar="DST_REPO@BRANCH:/PATH")
@click.option("-a", "--append", is_flag=True, help="Append to the destination.")
def copy_file(src: str, dst: str, append: bool) -> None:
    """Copy a file or directory between commits without moving any bytes."""
    src_target, src_path = _split_file_arg(src)
    dst_target, dst_path = _split_file_arg(dst)
    client().copy_file(src_target, src_path, dst_target, dst_path, append=append)


@click.command("file")
@click.argument("target", metavar="REPO@BRANCH:/PATH")
def delete_file(target: str) -> None:
    """Delete a file or a directory."""
    commit_target, path = _split_file_arg(target)
    client().delete_file(commit_target, path)


@click.command("file")
@click.argument("target", metavar="REPO@REF:/PATH")
@output_option
def inspect_file(target: str, output: str | None) -> None:
    """Show one file or directory, with its hash."""
    commit_target, path = _split_file_arg(target)
    info = client().inspect_file(commit_target, path)
    emit(output, info, ["NAME", "TYPE", "SIZE", "HASH"], lambda f: [*_file_cells(f), f.hash])


@click.command("gc")
@output_option
def gc(output: str | None) -> None:
    """Delete chunks and manifests that no commit references."""
    report = client().gc()
    if output == "json":
        print_json(report)
    else:
        say(
            f"deleted {report.chunks_deleted} chunks and {report.manifests_deleted} manifests; "
            f"{report.chunks_kept} chunks in use"
        )
        if report.unreadable_manifests:
            say(
                f"kept every chunk: {report.unreadable_manifests} manifest(s) that commits "
                "reference are missing or corrupted; run `raypachy fsck` to see which"
            )


@click.command("fsck")
@click.option(
    "--fix", is_flag=True, help="Repair what is safe: dangling heads and links, datum records."
)
@click.option("--deep", is_flag=True, help="Also re-hash every referenced chunk (reads all data).")
@output_option
def fsck(fix: bool, deep: bool, output: str | None) -> None:
    """Check that every commit is readable and every link points somewhere (exit 1 if not)."""
    report = client().fsck(fix=fix, deep=deep)
    if output == "json":
        print_json({**to_json(report), "ok": report.ok})
    else:
        for p in report.problems:
            state = "fixed" if p.fixed else "PROBLEM"
            click.echo(f"{state:8} {p.kind:10} {p.subject}: {p.message}")
        verdict = "ok" if report.ok else f"{sum(not p.fixed for p in report.problems)} problems"
        say(
            f"checked {report.commits} commits, {report.manifests} manifests, "
            f"{report.chunks} chunks: {verdict}"
        )
    if not report.ok:
        raise SystemExit(1)


NOUNS: dict[str, list[Any]] = {
    "create": [create_repo, create_branch],
    "list": [list_repo, list_commit, list_branch, list_file],
    "inspect": [inspect_repo, inspect_commit, inspect_branch, inspect_file],
    "delete": [delete_repo, delete_commit, delete_branch, delete_file],
    "start": [start_commit],
    "finish": [finish_commit],
    "squash": [squash_commit],
    "wait": [wait_commit],
    "subscribe": [subscribe_commit],
    "put": [put_file],
    "get": [get_file],
    "glob": [glob_file],
    "diff": [diff_file],
    "find": [find_commit],
    "edit": [edit_metadata],
    "copy": [copy_file],
}
