"""Pipeline, job and datum verbs, plus ``logs`` and ``lineage``."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from raypachy.cli.context import client, output_option, page_options
from raypachy.cli.render import ago, emit, print_json, print_table, say
from raypachy.cli.secret_commands import (
    create_secret,
    delete_secret,
    inspect_secret,
    list_secret,
)
from raypachy.errors import InvalidAddressError, JobNotFoundError
from raypachy.pfs.names import is_commit_id
from raypachy.pps.model import DatumInfo, JobInfo, JobState, PipelineInfo, PipelineVersion

JOB_COLUMNS = ["PIPELINE", "ID", "STARTED", "DURATION", "PROGRESS", "STATE", "REASON"]


def _split(target: str, what: str = "PIPELINE@JOB") -> tuple[str, str]:
    name, sep, job = target.partition("@")
    if not sep or not name or not job:
        raise InvalidAddressError(f"expected {what}, got {target!r}")
    return name, job


def _duration(job: JobInfo) -> str:
    if job.started is None:
        return "-"
    end = job.finished or datetime.now(UTC)
    seconds = (end - job.started).total_seconds()
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _progress(job: JobInfo) -> str:
    d = job.datums
    text = f"{d.processed + d.skipped}/{d.total}"
    extras = [f"{n} {label}" for n, label in ((d.skipped, "skipped"), (d.failed, "failed"),
                                             (d.recovered, "recovered")) if n]  # fmt: skip
    return text + (f" ({', '.join(extras)})" if extras else "")


def _job_cells(job: JobInfo) -> list[str]:
    return [job.pipeline, job.id, ago(job.started), _duration(job), _progress(job), job.state,
            job.reason]  # fmt: skip


def _pipeline_cells(p: PipelineInfo) -> list[str]:
    state = p.state + (f" / {p.last_job_state}" if p.last_job_state else "")
    inputs = ",".join(p.inputs) or ("(spout)" if p.spec.get("spout") is not None else "")
    return [p.project, p.name.rpartition("/")[2], p.version[:8], inputs,
            ago(p.created), state, p.description]  # fmt: skip


def _specs(spec_file: str | None, python: str | None, jsonnet: str | None = None,
           args: tuple[str, ...] = ()) -> list[Any]:  # fmt: skip
    if sum(bool(x) for x in (spec_file, python, jsonnet)) != 1:
        raise click.UsageError("give exactly one of -f SPEC, --jsonnet FILE or --python FILE.py")
    if args and not jsonnet:
        raise click.UsageError("--arg passes a parameter to a --jsonnet template: give one")
    if python:
        from raypachy.cli.entry import allow_skipped
        from raypachy.pps.pipeline_files import load_pipelines

        allow_skipped()  # the file may import trio, which this process skipped
        return load_pipelines(python)
    from raypachy.pps.spec import read_specs

    if jsonnet:
        from raypachy.pps.templates import parse_args, render_jsonnet

        return [s.to_json() for s in read_specs(render_jsonnet(jsonnet, parse_args(args)))]
    text = sys.stdin.read() if spec_file == "-" else Path(str(spec_file)).read_text()
    return [s.to_json() for s in read_specs(text)]


def _register(
    spec_file: str | None, python: str | None, update: bool, reprocess: bool,
    jsonnet: str | None = None, args: tuple[str, ...] = (),
) -> None:  # fmt: skip
    c = client()
    for spec in _specs(spec_file, python, jsonnet, args):
        created = c.put_pipeline(spec, update, reprocess)
        info = created.pipeline
        verb = "updated" if update else "created"
        say(f"{verb} pipeline {info.name} (version {info.version[:8]})")
        if created.note:
            say(created.note)
        for warning in created.warnings:
            click.echo(f"warning: {warning}", err=True)


def _template_options(fn: Any) -> Any:
    arg_help = "A top-level argument of the --jsonnet template (repeatable)."
    fn = click.option("--arg", "args", multiple=True, metavar="PARAM=VALUE", help=arg_help)(fn)
    return click.option("--jsonnet", help="A Jsonnet template of the spec(s), as pachctl's.")(fn)


@click.command("pipeline")
@click.option("-f", "--file", "spec_file", help="A JSON/YAML spec file (- for stdin).")
@click.option("--python", help="A Python file of @raypachy.pipeline functions (FILE.py[:NAME]).")
@_template_options
def create_pipeline(
    spec_file: str | None, python: str | None, jsonnet: str | None, args: tuple[str, ...]
) -> None:
    """Create pipelines from a spec file, a Jsonnet template or decorated Python functions."""
    _register(spec_file, python, update=False, reprocess=False, jsonnet=jsonnet, args=args)


@click.command("pipeline")
@click.option("-f", "--file", "spec_file", help="A JSON/YAML spec file (- for stdin).")
@click.option("--python", help="A Python file of @raypachy.pipeline functions (FILE.py[:NAME]).")
@_template_options
@click.option("--reprocess", is_flag=True, help="Process every datum again (new salt).")
def update_pipeline(
    spec_file: str | None, python: str | None, jsonnet: str | None, args: tuple[str, ...],
    reprocess: bool,
) -> None:  # fmt: skip
    """Update pipelines; unchanged datums keep their outputs unless --reprocess."""
    _register(spec_file, python, update=True, reprocess=reprocess, jsonnet=jsonnet, args=args)


@click.command("pipeline")
@click.argument("name", required=False)
@click.option(
    "--history",
    metavar="N|all",
    help="Also the last N earlier versions of each pipeline (or all), newest first.",
)
@output_option
def list_pipeline(name: str | None, history: str | None, output: str | None) -> None:
    """List pipelines (or one), with --history their earlier versions."""
    c = client()
    if history is not None:
        back = _history_count(history)
        names = [name] if name else [p.name for p in c.list_pipelines()]
        rows: list[PipelineVersion] = []
        for n in names:
            versions = c.list_pipeline_versions(n)[::-1]  # newest first
            at = next(i for i, v in enumerate(versions) if v.current)
            rows += versions[at : at + 1 + back] if back >= 0 else versions[at:]
        columns = ["NAME", "VERSION", "CREATED", "JOBS", "CURRENT", "DESCRIPTION"]
        emit(output, rows, columns, lambda v: [
            v.pipeline, v.version[:8], ago(v.created), str(v.jobs), "yes" if v.current else "",
            str(v.spec.get("description", "")),
        ])  # fmt: skip
        return
    columns = ["PROJECT", "NAME", "VERSION", "INPUT", "CREATED", "STATE / LAST JOB",
               "DESCRIPTION"]  # fmt: skip
    found = [c.inspect_pipeline(name)] if name else c.list_pipelines()
    emit(output, found, columns, _pipeline_cells)


def _history_count(text: str) -> int:
    if text == "all":
        return -1
    if text.isdigit():
        return int(text)
    raise click.BadParameter(f"{text!r}: give a number of versions, or all", param_hint="--history")


@click.command("pipeline")
@click.argument("name", metavar="NAME[^N]")
@output_option
def inspect_pipeline(name: str, output: str | None) -> None:
    """Show a pipeline: its spec, resources and last job (NAME^1: its previous version)."""
    info = client().inspect_pipeline(name)
    if output == "json":
        print_json(info)
        return
    for key in ("name", "version", "state", "description", "transform", "output_repo", "last_job",
                "last_job_state"):  # fmt: skip
        click.echo(f"{key + ':':16}{getattr(info, key)}")
    click.echo(f"{'inputs:':16}{', '.join(info.inputs)}")
    if info.service_url:
        click.echo(f"{'service url:':16}{info.service_url}")
    click.echo(f"{'resources:':16}{json.dumps(info.resources) if info.resources else '1 CPU'}")
    if info.ray_options:
        click.echo(f"{'ray options:':16}{json.dumps(info.ray_options)}")
        where = ", ".join(info.can_run_on) if info.can_run_on else info.placement
        click.echo(f"{'can run on:':16}{where}")
    click.echo("spec:")
    click.echo(json.dumps(info.spec, indent=2))


@click.command("pipeline")
@click.argument("name")
@click.option("--keep-repo", is_flag=True, help="Keep the output repo.")
def delete_pipeline(name: str, keep_repo: bool) -> None:
    """Delete a pipeline (and its output repo unless --keep-repo)."""
    client().delete_pipeline(name, keep_repo=keep_repo)


@click.command("pipeline")
@click.argument("name")
def stop_pipeline(name: str) -> None:
    """Stop a pipeline: new data no longer triggers jobs (a spout's or service's process
    stops)."""
    client().stop_pipeline(name)


@click.command("pipeline")
@click.argument("name")
def start_pipeline(name: str) -> None:
    """Start a stopped pipeline (it runs on the current data)."""
    client().start_pipeline(name)


@click.command("cron")
@click.argument("name")
def run_cron(name: str) -> None:
    """Tick a pipeline's cron inputs now, whatever their schedule (one job)."""
    for commit in client().run_cron(name):
        click.echo(f"{commit.repo}@{commit.id}")  # the tick: `raypachy wait commit` takes it


@click.command("job")
@click.argument("job_id", required=False)
@click.option("-p", "--pipeline", help="Only this pipeline's jobs.")
@click.option("--watch", is_flag=True, help="Refresh until every listed job has ended.")
@click.option(
    "--history",
    metavar="N|all",
    help="With -p: only the jobs of the current version and the N before it (or all).",
)
@page_options("jobs", "PIPELINE@JOB")
@output_option
def list_job(
    job_id: str | None, pipeline: str | None, watch: bool, history: str | None,
    limit: int | None, start_after: str | None, output: str | None,
) -> None:  # fmt: skip
    """List jobs (a global id shows every job it triggered)."""
    c = client()
    if history is not None:
        if pipeline is None or watch:
            raise click.UsageError("--history lists one pipeline's jobs: give -p PIPELINE")
        back = _history_count(history)
        versions = c.list_pipeline_versions(pipeline)[::-1]  # newest first
        at = next(i for i, v in enumerate(versions) if v.current)
        kept = {v.version for v in (versions[at : at + 1 + back] if back >= 0 else versions[at:])}
        jobs = [j for j in c.list_jobs(pipeline, job_id, start_after=start_after)
                if j.version in kept][:limit]  # fmt: skip
        emit(output, jobs, JOB_COLUMNS, _job_cells)
        return
    if not watch:
        jobs = c.list_jobs(pipeline, job_id, limit=limit, start_after=start_after)
        emit(output, jobs, JOB_COLUMNS, _job_cells)
        return
    if output == "json":
        raise click.UsageError("--watch shows a live table; drop -o json")
    from rich.live import Live
    from rich.table import Table

    def table() -> tuple[Table, bool]:
        jobs = c.list_jobs(pipeline, job_id, limit=min(limit or 20, 20), start_after=start_after)
        t = Table(box=None, header_style="bold")
        for column in JOB_COLUMNS:
            t.add_column(column)
        for job in jobs:
            t.add_row(*_job_cells(job))
        return t, all(JobState(j.state).terminal for j in jobs)

    first, done = table()
    with Live(first, refresh_per_second=4, transient=False) as live:
        while not done:
            time.sleep(0.25)
            current, done = table()
            live.update(current)


@click.command("job")
@click.argument("target", metavar="PIPELINE@JOB")
@output_option
def inspect_job(target: str, output: str | None) -> None:
    """Show one job."""
    emit(output, client().inspect_job(*_split(target)), JOB_COLUMNS, _job_cells)


@click.command("job")
@click.argument("target", metavar="PIPELINE@JOB")
@click.option("--timeout", type=float)
@output_option
def wait_job(target: str, timeout: float | None, output: str | None) -> None:
    """Block until a job ends; exit code 1 unless it succeeded."""
    job = client().wait_job(*_split(target), timeout=timeout)
    emit(output, job, JOB_COLUMNS, _job_cells)
    if job.state != JobState.SUCCESS:
        sys.exit(1)


@click.command("job")
@click.argument("target", metavar="PIPELINE@JOB")
def stop_job(target: str) -> None:
    """Stop a running job (it ends as killed)."""
    client().stop_job(*_split(target))


def _datum_cells(d: DatumInfo) -> list[str]:
    inputs = " ".join(f"{i.name}:{i.path}" for i in d.inputs)
    return [d.id, d.state, inputs, f"{d.duration_s:.3f}s", d.error]


DATUM_COLUMNS = ["ID", "STATE", "INPUTS", "TIME", "ERROR"]


@click.command("datum")
@click.argument("target", required=False, metavar="PIPELINE@JOB")
@click.option("-f", "--file", "spec_file", help="Preview the datums of this spec (runs nothing).")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1),
    help="Show at most this many datums (a preview making more is refused; default 10,000).",
)  # fmt: skip
@click.option("--start-after", metavar="DATUM", help="Only the datums listed after this one.")
@output_option
def list_datum(
    target: str | None, spec_file: str | None, limit: int | None, start_after: str | None,
    output: str | None,
) -> None:  # fmt: skip
    """List a job's datums, or preview a spec's datums on the current data."""
    c = client()
    if spec_file:
        previews = [d for spec in _specs(spec_file, None) for d in c.preview_datums(spec, limit)]
        if output == "json":
            print_json(previews)
            return
        print_table(["ID", "INPUTS"], previews, lambda d: [
            d["id"], " ".join(f"{i['name']}:{i['path']}" for i in d["inputs"])
        ])  # fmt: skip
        say(f"{len(previews)} datum(s)")
        return
    if not target:
        raise click.UsageError("give PIPELINE@JOB, JOB or -f SPEC to preview datums")
    datums = [
        d
        for p, j in _jobs_of(c, target)
        for d in c.list_datums(p, j, limit=limit, start_after=start_after)
    ][:limit]
    emit(output, datums, DATUM_COLUMNS, _datum_cells)


def _jobs_of(c: Any, target: str) -> list[tuple[str, str | None]]:
    """``PIPELINE@JOB``, ``PIPELINE`` (its latest job) or a job id alone (every pipeline's job
    of that global id) -> (pipeline, job) pairs."""
    pipeline, sep, job = target.partition("@")
    if sep:
        return [(pipeline, job or None)]
    if is_commit_id(target):
        jobs = c.list_jobs(job_id=target)
        if jobs:
            return [(j.pipeline, j.id) for j in jobs]
    return [(target, None)]


@click.command("datum")
@click.argument("target", metavar="PIPELINE@JOB")
@click.argument("datum")
@output_option
def inspect_datum(target: str, datum: str, output: str | None) -> None:
    """Show one datum: its inputs, outputs, attempts and error."""
    emit(output, client().inspect_datum(*_split(target), datum), DATUM_COLUMNS, _datum_cells)


@click.command("datum")
@click.argument("target", metavar="PIPELINE@JOB")
@click.argument("datum", metavar="DATUM-ID|/PATH[,/PATH...]")
def restart_datum(target: str, datum: str) -> None:
    """Restart a datum of a running job, within that job (as pachctl does).

    The datum is named by its id or by its input paths. Its batch is stopped (its command
    killed) and run again, so the datums batched with it run again too. On a job that has
    ended, a new job runs its failed datums again and skips the rest (Pachyderm restarts
    only datums of running jobs).
    """
    pipeline, job_id = _split(target)
    job = client().restart_datum(pipeline, job_id, datum)
    if job.id == job_id:
        say(f"restarting datum {datum} within job {job.pipeline}@{job.id}")
    else:
        say(f"job {pipeline}@{job_id} has ended: started job {job.pipeline}@{job.id} to run "
            "its failed datums again")  # fmt: skip


@click.command("logs")
@click.option("-p", "--pipeline", help="The pipeline (needed unless --job is given).")
@click.option("--job", "job_id", help="A job id (default: the pipeline's latest).")
@click.option("--datum", help="One datum.")
@click.option("-f", "--follow", is_flag=True, help="Print what datums print as they print it, "
              "until the job ends.")  # fmt: skip
def logs(pipeline: str | None, job_id: str | None, datum: str | None, follow: bool) -> None:
    """Print what datums wrote to stdout and stderr (tracebacks of failures included).

    --job alone shows the logs of every pipeline's job of that (global) id.
    """
    c = client()
    if pipeline is None and job_id is None:
        raise click.UsageError("give -p PIPELINE, --job ID, or both")
    if pipeline is None:
        assert job_id is not None
        targets = [(j.pipeline, j.id) for j in c.list_jobs(job_id=job_id)]
        if not targets:
            raise JobNotFoundError(f"job {job_id} not found")
    else:
        targets = [(pipeline, job_id)]
    if not follow:
        for name, job in targets:
            for entry in c.logs(name, job, datum):
                click.echo(_log_head(name, entry))
                click.echo(entry["log"].rstrip("\n"))
        return
    _follow(c, targets, datum)


def _log_head(pipeline: str, entry: dict[str, Any]) -> str:
    if not entry["job"]:  # a spout's or service's process: no jobs
        return f"--- {pipeline} process ({entry['state']})"
    what = f"datum {entry['datum']}" if entry["datum"] else "workers"  # a class's __init__
    head = f"--- {pipeline}@{entry['job']} {what} ({entry['state']})"
    return head + (f": {entry['error']}" if entry["error"] else "")


def _follow(c: Any, targets: list[tuple[str, str | None]], datum: str | None) -> None:
    """Print each datum's output as it grows; the jobs' end ends it (after a last look)."""
    printed: dict[tuple[str, str, str], int] = {}  # characters of each datum's log shown
    states: dict[tuple[str, str, str], str] = {}
    at_line_start = True
    # A spout's or service's process log (a pipeline without jobs) is followed until ^C.
    processes = {name for name, job in targets if job is None and _runs_a_process(c, name)}

    def write(text: str) -> None:
        nonlocal at_line_start
        if text:
            sys.stdout.write(text)
            at_line_start = text.endswith("\n")

    while True:
        jobs = [
            c.inspect_job(name, job) if job else (c.list_jobs(name, limit=1) or [None])[0]
            for name, job in targets
        ]
        ended = all(
            JobState(j.state).terminal if j is not None else name not in processes
            for (name, _), j in zip(targets, jobs, strict=True)
        )
        for (name, job), found in zip(targets, jobs, strict=True):
            shown = found is not None or (name in processes and datum is None)
            for entry in c.logs(name, job, datum) if shown else []:
                key = (name, entry["job"], entry["datum"])
                if key not in printed or (entry["error"] and states.get(key) != entry["state"]):
                    write("" if at_line_start else "\n")
                    write(_log_head(name, entry) + "\n")
                    printed.setdefault(key, 0)
                states[key] = entry["state"]
                write(entry["log"][printed[key] :])
                printed[key] = max(printed[key], len(entry["log"]))
        sys.stdout.flush()
        if ended:
            write("" if at_line_start else "\n")
            return
        time.sleep(0.5)


def _runs_a_process(c: Any, pipeline: str) -> bool:
    spec = c.inspect_pipeline(pipeline).spec
    return spec.get("spout") is not None or spec.get("service") is not None


def _tree(node: dict[str, Any], depth: int = 0) -> None:
    pad = "  " * depth
    label = f"{node['repo']}@{node['id']}" + (f":{node['path']}" if node.get("path") else "")
    if node.get("pipeline"):
        p = node["pipeline"]
        extra = f" <- pipeline {p['name']} version {p['version'][:8]} ({p.get('code', '')})"
        if node.get("datum"):
            extra += f" datum {node['datum']}"
        label += extra
    elif node.get("origin") == "user":
        label += "  (user data)"
    click.echo(pad + label)
    for child in node.get("inputs", []):
        _tree(child, depth + 1)


def _down(nodes: list[dict[str, Any]], depth: int) -> None:
    for n in nodes:
        p = n.get("pipeline")
        where = f" (pipeline {p['name']}, {p['state']})" if p else ""
        click.echo("  " * depth + f"{n['repo']}@{n['id']}{where}")
        _down(n.get("downstream", []), depth + 1)


@click.command("lineage")
@click.argument("target", metavar="REPO@REF[:/PATH]")
@output_option
def lineage(target: str, output: str | None) -> None:
    """Provenance upstream (commits, pipeline versions, files) and subvenance downstream."""
    result = client().lineage(target)
    if output == "json":
        print_json(result)
        return
    click.echo("upstream:")
    _tree(result["upstream"], 1)
    click.echo("downstream:")
    if result["downstream"]:
        _down(result["downstream"], 1)
    else:
        click.echo("  (nothing computed from it yet)")


@click.command("datum")
@click.option("--error", "error", default="", help="Fail the current datum with this message.")
def next_datum_command(error: str) -> None:
    """Finish the current datum and wait for the next (transform.datum_batching).

    Exits 0 once the next datum is at /pfs (its variables are in /pfs/.env), and 3 when no
    datum is left: the command should then exit.
    """
    from raypachy.pps.nextdatum import NO_DATUM_LEFT, next_datum

    if not next_datum(error, env_file=True):
        sys.stderr.write("no datum left\n")
        raise SystemExit(NO_DATUM_LEFT)


@click.command("pipeline")
@click.argument("name")
@click.option("--reprocess", is_flag=True, help="Process every datum again (new salt).")
@click.option("--editor", help="The editor to run (default: $EDITOR, else vi).")
def edit_pipeline(name: str, reprocess: bool, editor: str | None) -> None:
    """Edit a pipeline's spec (as JSON) in an editor, then update the pipeline with it."""
    import os
    import shlex
    import subprocess
    import tempfile

    from raypachy.pps.spec import read_specs

    c = client()
    before = c.inspect_pipeline(name).spec
    command = shlex.split(editor or os.environ.get("EDITOR") or "vi")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(before, indent=2) + "\n")
        if subprocess.run([*command, str(path)]).returncode != 0:
            raise click.ClickException(f"the editor {command[0]} failed: pipeline {name} unchanged")
        text = path.read_text()
    specs = read_specs(text)
    if len(specs) != 1 or specs[0].name != name:
        raise click.ClickException(
            f"the edited spec must be one pipeline named {name}: pipeline {name} unchanged"
        )
    after = specs[0].to_json()
    if after == before and not reprocess:
        say(f"pipeline {name} unchanged")
        return
    created = c.put_pipeline(after, update=True, reprocess=reprocess)
    say(f"updated pipeline {name} (version {created.pipeline.version[:8]})")
    if created.note:
        say(created.note)
    for warning in created.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("pipeline")
@click.argument("name")
@click.option("--reprocess", is_flag=True, help="Process every datum again, not only new ones.")
def rerun_pipeline(name: str, reprocess: bool) -> None:
    """Run a new job of a pipeline on its inputs' current heads; prints the job."""
    job = client().rerun_pipeline(name, reprocess=reprocess)
    click.echo(f"{job.pipeline}@{job.id}")


@click.command("defaults")
@click.option("--cluster", is_flag=True, default=True, help="The cluster's defaults.")
@click.option("--project", help="This project's defaults (cluster < project < spec).")
@click.option(
    "-f",
    "--file",
    "defaults_file",
    required=True,
    help='A JSON/YAML file: {"create_pipeline_request": {...}} (- for stdin).',
)
def update_defaults(cluster: bool, project: str | None, defaults_file: str) -> None:
    """Set the cluster (or a project's) defaults: spec fields merged under every pipeline
    created or updated from now on (the spec's own fields win over the project's, the
    project's over the cluster's)."""
    import yaml

    text = sys.stdin.read() if defaults_file == "-" else Path(defaults_file).read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise click.BadParameter(f"{defaults_file} is not JSON or YAML", param_hint="-f") from None
    client().update_defaults(doc, project=project)
    which = f"project {project}'s" if project else "the cluster"
    say(f"updated {which} defaults (pipelines created or updated from now on get them)")


@click.command("defaults")
@click.option("--cluster", is_flag=True, default=True, help="The cluster's defaults.")
@click.option("--project", help="This project's defaults.")
def inspect_defaults(cluster: bool, project: str | None) -> None:
    """Print the cluster (or a project's) defaults as JSON."""
    print_json(client().inspect_defaults(project=project))


NOUNS: dict[str, list[Any]] = {
    "create": [create_pipeline, create_secret],
    "update": [update_pipeline, update_defaults],
    "list": [list_pipeline, list_job, list_datum, list_secret],
    "inspect": [inspect_pipeline, inspect_job, inspect_datum, inspect_secret, inspect_defaults],
    "delete": [delete_pipeline, delete_secret],
    "stop": [stop_pipeline, stop_job],
    "start": [start_pipeline],
    "wait": [wait_job],
    "restart": [restart_datum],
    "next": [next_datum_command],
    "run": [run_cron],
    "edit": [edit_pipeline],
    "rerun": [rerun_pipeline],
}
COMMANDS = [logs, lineage]
