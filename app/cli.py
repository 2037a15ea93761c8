"""The `lectern` command: serve, worker, migrate, reindex, check, token."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from app.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def _settings(**overrides) -> Settings:
    """The settings, from the environment and ``overrides``; a value that does not fit ends the
    command with one line per bad setting (its variable, what is wrong, what was given), not a
    traceback."""
    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**values) if values else Settings()
    except ValidationError as exc:
        lines = [
            f"LECTERN_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']} (given: {err.get('input')!r})"
            for err in exc.errors()
        ]
        raise click.ClickException("bad settings:\n" + "\n".join(lines)) from None


@click.group()
def main() -> None:
    """Lectern: a self-hosted library for papers, tweets and blog notes."""
    logging.basicConfig(level=os.environ.get("LECTERN_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")


M_ARENA_MAX = -8  # glibc mallopt parameter


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before the server starts its threads. Each thread that allocates
    gets an arena of its own (up to 8 per core) and keeps what it frees; request threads running
    searches (SQLite sorts, result lists) held the web process about 20 MB higher at 100k items
    (193 vs 174 MB under the same load, measured side by side). Not glibc: nothing to do."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


def app_to_serve(settings: Settings) -> FastAPI:
    """The app `lectern serve` runs, with what making it left behind frozen, in a process whose
    threads take turns at Python's lock every ``settings.gil_switch_ms``.

    What create_app made (modules, classes, routes, schemas: about 140k objects) lives as long as
    the process; frozen, it is out of the collector's sight, so a full collection scans the few
    thousand objects made since (about 4 ms) instead of all of them (about 100 ms, in the middle
    of whichever request set it off).

    A request crosses from the event loop to a pool thread and back; each crossing waits for the
    lock while another thread runs Python, up to the switch interval: at Python's 5 ms, a save
    that comes during a search waits for it in 5 ms slices. Under figure 8's load (bench/load_ab.py,
    6 rounds of 40 s each way) 1 ms gave saves a p95 of 15.1 ms and searches 39.8 (medians), 5 ms
    16.7 and 42.0, idle figures alike; single rounds overlap, so the gain is small and not sure."""
    from app.main import create_app

    sys.setswitchinterval(settings.gil_switch_ms / 1000)
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind (default 8000).")
@click.option("--no-worker", is_flag=True, help="Do not start a worker process (production runs it apart).")
def serve(host: str | None, port: int | None, no_worker: bool) -> None:
    """Run the web app and, unless --no-worker, a Celery worker process beside it."""
    import uvicorn

    _limit_malloc_arenas()

    from app.db import make_engine
    from app.migrate import upgrade_database

    settings = _settings(host=host, port=port)
    settings.ensure_data_dir()
    engine = make_engine(settings)
    upgrade_database(engine)
    engine.dispose()
    worker: subprocess.Popen | None = None
    if not no_worker:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], start_new_session=True, preexec_fn=_die_with_parent
        )
        click.echo(f"Started the worker (pid {worker.pid}).", err=True)
    try:
        click.echo(f"Lectern on http://{settings.host}:{settings.port}  (data in {settings.data_dir.resolve()})", err=True)
        uvicorn.run(app_to_serve(settings), host=settings.host, port=settings.port, log_level="info",
                    access_log=False)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)


def _die_with_parent() -> None:
    """In the worker `lectern serve` starts: ask Linux for SIGTERM when serve dies, however it
    dies (a SIGKILL leaves no time for its own clean-up), so no worker outlives its server."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


@main.command()
@click.option("--concurrency", type=int, default=None, help="Worker processes (default from settings).")
@click.option("--no-beat", is_flag=True, help="Do not run the sweeper schedule in this worker.")
def worker(concurrency: int | None, no_beat: bool) -> None:
    """Run a Celery worker (with the sweeper schedule embedded)."""
    from app.db import make_engine
    from app.migrate import upgrade_database
    from worker.celery_app import make_celery

    settings = _settings()
    settings.ensure_data_dir()
    engine = make_engine(settings)
    upgrade_database(engine)
    engine.dispose()
    if settings.worker_nice:
        os.nice(settings.worker_nice)  # inherited by the pool processes and the extraction sandbox
    app = make_celery(settings)
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname=lectern-{os.getpid()}@%h",
    ]
    if no_beat:
        app.worker_main(argv)
        return
    # Beat keeps its schedule in a shelve file (three files on some dbm backends): in a directory
    # of its own that goes with the worker, or every worker start leaves them in /tmp. Its name
    # holds the worker's pid, so that a worker killed before it could remove it is cleaned up after.
    remove_abandoned_beat_dirs(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix=f"{BEAT_DIR_PREFIX}{os.getpid()}-") as beat_dir:
        app.worker_main([*argv, "--beat", f"--schedule={os.path.join(beat_dir, 'schedule')}"])


BEAT_DIR_PREFIX = "lectern-beat-"


def remove_abandoned_beat_dirs(tmp: Path) -> list[Path]:
    """Remove the beat directories (``lectern-beat-<pid>-*``) of workers that are gone: one killed
    with SIGKILL (or by the OOM killer) had no chance to. Returns what was removed."""
    removed = []
    for path in tmp.glob(f"{BEAT_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(BEAT_DIR_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or _process_exists(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@main.command()
def migrate() -> None:
    """Upgrade the database schema to the latest version."""
    from app.db import make_engine
    from app.migrate import upgrade_database

    settings = _settings()
    upgrade_database(make_engine(settings))
    click.echo("Database is up to date.")


@main.command()
def reindex() -> None:
    """Rebuild the search index from the database (after an engine upgrade, or to fix drift)."""
    from app.db import make_engine, make_session_factory
    from app.search.factory import make_search_backend
    from app.services.indexing import reindex_all

    settings = _settings()
    factory = make_session_factory(make_engine(settings))
    backend = make_search_backend(settings)
    with click.progressbar(length=1, label="Reindexing", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        count = reindex_all(factory, backend, progress=progress)
    click.echo(f"Indexed {count} items into the {settings.search_backend} backend.")


@main.command()
@click.option("--repair", is_flag=True, help="Fix what is found: remove orphan files, re-fetch or fail items "
              "whose PDF is missing, queue index updates.")
def check(repair: bool) -> None:
    """Find orphan files, items whose PDF is missing, and drift between the database and the index."""
    from app.db import make_engine, make_session_factory
    from app.search.factory import make_search_backend
    from app.services.maintenance import check_library

    settings = _settings()
    factory = make_session_factory(make_engine(settings))
    report = check_library(factory, settings, make_search_backend(settings), repair=repair)
    for line in report.lines():
        click.echo(line)
    if report.problems and not repair:
        click.echo("Run `lectern check --repair` to fix the files, then `lectern reindex` for the index.")
        sys.exit(1)
    if repair and report.problems:
        click.echo("Repaired. Index updates are queued; a running worker applies them.")


@main.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("name")
def token_create(name: str) -> None:
    """Create an API token; prints only the token, once."""
    from app.db import make_engine, make_session_factory
    from app.migrate import upgrade_database
    from app.repo.users import get_owner
    from app.services import auth as auth_service

    settings = _settings()
    engine = make_engine(settings)
    upgrade_database(engine)
    factory = make_session_factory(engine)
    # The web or a worker may be starting on the same fresh database: the owner is created the
    # way they create it, in its own transaction that a concurrent creation cannot break.
    auth_service.ensure_owner_on_start(factory, settings.password)
    with factory() as session:
        owner = get_owner(session)
        if owner is None:
            raise click.ClickException(
                "There is no owner account yet: open Lectern in a browser to set the password, "
                "or set LECTERN_PASSWORD."
            )
        new = auth_service.create_api_token(session, owner, name)
        session.commit()
    click.echo(new.plaintext)


def _factory_and_settings():
    from app.db import make_engine, make_session_factory
    from app.migrate import upgrade_database

    settings = _settings()
    settings.ensure_data_dir()
    engine = make_engine(settings)
    upgrade_database(engine)
    return make_session_factory(engine), settings


@main.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["bibtex", "csl-json", "bookmarks", "x-archive", "urls"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_(fmt: str, file: str) -> None:
    """Import FILE (or a .zip with it and its PDFs); items are queued for the worker to fetch."""
    from pathlib import Path

    from app.search.factory import make_search_backend
    from app.services.imports.base import UnreadableFile
    from app.services.imports.run import run_import_job, start_import
    from app.services.indexing import prepare_search
    from app.services.jobs import NoJobQueue

    factory, settings = _factory_and_settings()
    try:
        job = start_import(factory, settings, NoJobQueue(), fmt, Path(file).name, Path(file).read_bytes())
    except (UnreadableFile, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    with click.progressbar(length=1, label=f"Importing {Path(file).name}", file=sys.stderr) as bar:
        def progress(summary) -> None:
            bar.length = max(summary.total, 1)
            bar.update(summary.processed - bar.pos)

        backend = make_search_backend(settings)
        prepare_search(factory, backend)
        job = run_import_job(factory, settings, job.id, search=backend, progress=progress)
    if job is None or job.status != "done":
        raise click.ClickException(f"import failed: {job.error if job else 'taken by another process'}")
    click.echo(f"created {job.created}, merged with existing {job.merged}, skipped {len(job.skipped)}")
    for skip in job.skipped[:50]:
        click.echo(f"  skipped {skip['entry']}: {skip['reason']}")
    if len(job.skipped) > 50:
        click.echo(f"  ... and {len(job.skipped) - 50} more")


@main.command("export")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(["bibtex", "bookmarks", "markdown", "backup"]))
@click.option("--tag", default=None, help="Only items with this tag (and its children).")
@click.option("--item", "item_ids", multiple=True, type=int, help="Only these item ids (repeatable).")
@click.option("-o", "--output", default=None, help="File to write (default: standard output, or lectern-<format>.zip).")
def export(fmt: str, tag: str | None, item_ids: tuple[int, ...], output: str | None) -> None:
    """Export the library: bibtex, bookmarks (Netscape HTML), markdown (zip), backup (zip)."""
    from app.services.exports import export_library

    factory, settings = _factory_and_settings()
    result = export_library(factory, settings, fmt, tag=tag, item_ids=list(item_ids) or None)
    if output is None and result.binary:
        output = result.filename
    if output:
        with open(output, "wb") as fh:
            fh.write(result.data)
        click.echo(f"Wrote {output} ({len(result.data)} bytes).", err=True)
    else:
        sys.stdout.buffer.write(result.data)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def restore(file: str) -> None:
    """Rebuild an empty instance from a backup zip (`lectern export backup`), search index included."""
    from pathlib import Path

    from app.search.factory import make_search_backend
    from app.services.exports.backup import RestoreError, restore_backup

    factory, settings = _factory_and_settings()
    try:
        counts = restore_backup(factory, settings, Path(file).read_bytes(), search=make_search_backend(settings))
    except RestoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Restored " + ", ".join(f"{n} {what}" for what, n in counts.items()) + ".")


if __name__ == "__main__":
    main()
