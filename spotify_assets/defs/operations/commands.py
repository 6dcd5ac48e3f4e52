"""Operator commands of the operations domain: `health` and `rebuild`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from spotify_assets.lib.errors import OperatorError
from spotify_assets.lib.settings import get_settings


def _cmd_health(args: argparse.Namespace) -> int:
    from spotify_assets.defs.operations.health import (
        RUN_LOOKBACK,
        collection_health_now,
        evaluate_and_alert,
    )

    settings = get_settings()
    if args.alert:
        from spotify_assets.definitions import defs
        from spotify_assets.lib.instance import deployment_instance

        keys = sorted(defs().resolve_asset_graph().asset_check_keys)
        since = datetime.now(UTC) - RUN_LOOKBACK
        health, sent, _ = evaluate_and_alert(settings, deployment_instance(settings), keys, since)
        print(f"{len(sent)} new alert(s) sent")
    else:
        health = collection_health_now(settings)
    for user in health.users:
        print(f"{user.handle:14} {user.status:13} {'ok' if user.ok else 'RED'}")
    if not health.passed:
        print("\n" + health.description())
    print(f"\ncollection health: {'green' if health.passed else 'red'} "
          f"({len(health.red)} of {len(health.users)} listener(s) red, "
          f"{health.skipped} paused or export-only)")
    return 0 if health.passed else 1


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from spotify_assets.defs.operations.rebuild import rebuild
    from spotify_assets.lib.instance import deployment_instance

    settings = get_settings()
    if not settings.raw_dir.is_dir():
        # A mistyped data folder would otherwise get a new, empty deployment and a "rebuilt"
        # lake of nothing.
        raise OperatorError(
            f"no raw/ folder in {settings.data_dir}: nothing to rebuild from "
            "(is SPOTIFY_ASSETS_DATA_DIR the deployment's data folder?)"
        )
    report = rebuild(settings, deployment_instance(settings))
    print(
        f"exports: {report.files_imported} file(s) replayed from raw, "
        f"{report.files_already_there} already in the lake"
        + (f", {report.files_unnamed} without a receipt (named by hash)"
           if report.files_unnamed else "")
    )
    print(f"polls: {report.bodies_replayed} body(ies) replayed, "
          f"{report.polled_days_written} polled_plays day file(s) written")
    print(f"snapshots: {report.receipts_replayed} receipt(s) replayed; "
          f"derived tables: {report.derived_runs} run(s), {report.failed_runs} failed")
    print("not rebuilt from raw (restore them from a backup; docs/operations.md): "
          + ", ".join(report.not_rebuilt))
    return 1 if report.failed_runs else 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    health = sub.add_parser(
        "health",
        help="collection health of every listener (exit 1 when red); --alert also posts new "
        "problems and failed runs to SPOTIFY_ASSETS_ALERT_WEBHOOK_URL (for cron, without a "
        "daemon)",
    )
    health.add_argument("--alert", action="store_true")
    health.set_defaults(func=_cmd_health)
    rebuild = sub.add_parser(
        "rebuild",
        help="replay raw/ into the lake (exports, polls) and refresh the listening history "
        "(docs/operations.md, 'Rebuild everything from raw')",
    )
    rebuild.set_defaults(func=_cmd_rebuild)
