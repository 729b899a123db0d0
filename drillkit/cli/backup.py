"""``drillkit backup create / list / verify / prune`` and ``drillkit restore --to REGION``."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from drillkit.cli._app import (
    DEFAULT_ENV,
    EnvOption,
    JsonOption,
    app,
    err,
    out,
    platform_of,
)
from drillkit.errors import ExitCode

backup_app = typer.Typer(no_args_is_help=True, help="Back up a region's model repository; list, verify and prune backups.")
app.add_typer(backup_app, name="backup", rich_help_panel="Backups")

RegionOption = Annotated[str | None, typer.Option("--region", help="Region to back up (default: backup.region or the primary).")]


@backup_app.command("create")
def backup_create(env: EnvOption = Path(DEFAULT_ENV), region: RegionOption = None, as_json: JsonOption = False) -> None:
    """Back up every version of a region's repository (incremental; the manifest is committed last)."""
    from drillkit.backup import source_of, store_for

    platform = platform_of(env)
    source = source_of(platform.spec, region)
    store = store_for(platform.spec, platform.root)
    backup = store.create(platform.region_repository(source.region), source)
    if as_json:
        out.print_json(json.dumps({"id": backup.id, "created_at": backup.created_at, "versions": list(backup.versions),
                                   "new_objects": backup.new_objects, "new_bytes": backup.new_bytes, "bytes": backup.bytes}))  # fmt: skip
        return
    out.print(f"backup {backup.id} of {source.region} in {store.where}: versions {', '.join(backup.versions)}, "
              f"{backup.new_objects} new objects ({backup.new_bytes / 1e6:.1f} of {backup.bytes / 1e6:.1f} MB stored)")  # fmt: skip


@backup_app.command("list")
def backup_list(env: EnvOption = Path(DEFAULT_ENV), as_json: JsonOption = False) -> None:
    """Committed backups, newest first."""
    from drillkit.backup import store_for

    platform = platform_of(env)
    store = store_for(platform.spec, platform.root)
    backups = store.list()
    if as_json:
        out.print_json(json.dumps([b.model_dump(mode="json", exclude={"files"}) for b in backups]))
        return
    table = Table(title=f"backups in {store.where}", title_justify="left")
    for column in ("id", "taken (UTC)", "source", "versions", "files", "MB", "new MB"):
        table.add_column(column)
    for b in backups:
        table.add_row(b.id, b.created_iso, f"{b.source.environment}/{b.source.region}", ", ".join(b.versions), str(len(b.files)),
                      f"{b.bytes / 1e6:.1f}", f"{b.new_bytes / 1e6:.1f}")  # fmt: skip
    out.print(table if backups else f"no backups in {store.where}")


@backup_app.command("verify")
def backup_verify(
    backup_id: Annotated[str | None, typer.Argument(help="One backup (default: every backup).")] = None,
    env: EnvOption = Path(DEFAULT_ENV),
    as_json: JsonOption = False,
) -> None:
    """Re-hash every object of every backup (or one); exit 4 naming each damaged object."""
    from drillkit.backup import store_for

    platform = platform_of(env)
    results = store_for(platform.spec, platform.root).verify(backup_id)
    if as_json:
        out.print_json(json.dumps([{"backup_id": r.backup_id, "ok": r.ok, "problems": [asdict(p) for p in r.problems]} for r in results]))
    else:
        for r in results:
            out.print(f"{r.backup_id}: " + ("[green]OK[/]" if r.ok else f"[red]{len(r.problems)} damaged[/]"))
            for p in r.problems:
                out.print(f"  {p.path} ({p.object}): {p.reason}", highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(int(ExitCode.ENVIRONMENT))


@backup_app.command("prune")
def backup_prune(
    env: EnvOption = Path(DEFAULT_ENV),
    keep_last: Annotated[int | None, typer.Option(min=1, help="Keep the newest N (default: backup.keep_last).")] = None,
    keep_days: Annotated[float | None, typer.Option(min=0.0, help="Keep backups younger than D days (default: backup.keep_days).")] = None,
    grace: Annotated[float, typer.Option(min=0.0, help="Spare unreferenced objects used in the last S seconds.")] = 3600.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be deleted.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Apply retention: delete the backups it does not keep, then unreferenced objects."""
    from drillkit.backup import backup_spec, store_for
    from drillkit.backup.retention import prune

    platform = platform_of(env)
    spec = backup_spec(platform.spec)
    keep_last = keep_last if keep_last is not None else spec.keep_last
    keep_days = keep_days if keep_days is not None else spec.keep_days
    report = prune(store_for(platform.spec, platform.root), keep_last=keep_last, keep_days=keep_days, grace_s=grace, dry_run=dry_run)
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {len(report.deleted_backups)} backups and {report.deleted_objects} objects "
              f"({report.freed_bytes / 1e6:.1f} MB); kept {len(report.kept)}")  # fmt: skip


@app.command(rich_help_panel="Backups")
def restore(
    to: Annotated[str, typer.Option("--to", help="Region whose repository is restored, e.g. primary.")],
    backup: Annotated[str | None, typer.Option("--backup", help="Backup id (default: the newest).")] = None,
    fallback: Annotated[bool, typer.Option("--fallback", help="When a backup is refused, try the next older one.")] = False,
    env: EnvOption = Path(DEFAULT_ENV),
    as_json: JsonOption = False,
) -> None:
    """Restore a region's model repository: fetch, verify every checksum, load it in Triton, switch atomically."""
    from drillkit.backup import store_for
    from drillkit.backup.restore import restore_region
    from drillkit.platforms import require_up

    platform = platform_of(env)
    require_up(platform)
    with err.status(f"restoring the model repository of [bold]{to}[/] (fetch, verify, Triton load, switch)"):
        report = restore_region(platform, store_for(platform.spec, platform.root), to, backup_id=backup, fallback=fallback)
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        return
    for r in report.refused:
        out.print(f"[yellow]refused[/] backup {r.backup_id}: {r.object}: {r.reason}", highlight=False)
    out.print(f"restored {to} from backup {report.backup_id} (versions {', '.join(report.versions)}) in "
              f"{report.restore_time_s:.1f} s; golden answers: {report.golden_detail}")  # fmt: skip
    if not report.golden_identical:
        raise typer.Exit(int(ExitCode.DRILL_FAILED))
