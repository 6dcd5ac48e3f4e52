"""Rebuild every table from `raw/`: `spotify-assets rebuild`.

Raw landing keeps every API body and every imported export file as received, and a receipt
for every write of an API snapshot (`lib/raw.py`); this replays them into the lake, then runs
what is computed from them again through the deployment's instance:
1. every imported export file (`raw/exports/<user>/<sha256>.json.gz`, its name from the
   import receipt in `inbox/<user>/imported/`) whose report is not in the lake is parsed and
   written as the import wrote it: `exported_plays`, `import_rejects`, `import_reports`;
2. every recently-played body (`raw/spotify_me_player_recently_played/<user>/...`), oldest
   first, is merged into `polled_plays` as the poll merged it (a play already there is kept);
3. every receipt that wrote a partition the lake lacks, oldest first, is replayed by the code
   beside the asset that wrote it (`_replays`): top lists and their cooldown copies, follows,
   artist listings, catalog fetches, the wrapped's captured lists, new releases, playlist
   rows; Spotify's answers come from the landed bodies (`lib/spotify/replay.py`);
4. the days that changed are refreshed as after an import (`plays`, `episode_plays`,
   `daily_listening`, `listening_sessions`, `listening_coverage`);
5. the MusicBrainz match tables are written again from the cache in `state/` (no request),
   then every table computed only from others (`DERIVED`) runs again over the partitions the
   instance says it had.
Idempotent: on a complete lake it replays nothing and every table keeps its files; on a lake
that lost files it puts back what raw holds; on no lake at all it rebuilds every table.

Moments come back too: a recently-played body is named by its answer's `Date` (Spotify's
clock, to the second), which is the poll's `polled_at` and the moment the next poll judges
`late_synced` against; `import_reports.imported_at` is the receipt's time stamp (a file with no
receipt: its raw copy's mtime); a snapshot's `fetched_at` is in its receipt. Two answers for
one listener in the same second (never two polls in practice) are replayed in name order.

Not equal after a rebuild, by nature: `lake_storage` describes the lake itself (its generation,
its superseded files), so it is written again for the new lake. Writes made before receipts
existed (2026-12-05) have none: their partitions are not rebuilt (docs/operations.md).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from spotify_assets.defs.listening.imports import RECEIPT_STAMP
from spotify_assets.lib.settings import Settings

EXPORTS_SOURCE = "exports"
RECENT_SOURCE = "spotify_me_player_recently_played"
REBUILT = (
    "exported_plays",
    "import_rejects",
    "import_reports",
    "polled_plays",
    "plays",
    "episode_plays",
    "daily_listening",
    "listening_sessions",
    "listening_coverage",
    "top_tracks",
    "top_artists",
    "followed_artists",
    "monthly_wrapped_captured",
    "album_appearances",
    "monthly_wrapped_playlists",
    "release_radar_playlists",
    "artist_releases",
    "artist_release_fetches",
    "spotify_albums",
    "spotify_tracks",
)
_RECEIPT_LINE = re.compile(r"^  ([0-9a-f]{64})  (.+)$")
_STAMP = re.compile(r"^(\d{8}T\d{6}\.\d{6})_")
_LANDED = re.compile(r"(\d{4}-\d{2}-\d{2})/(\d{6})_[0-9a-f]{12}\.json\.gz$")


@dataclass
class RebuildReport:
    files_imported: int = 0
    files_already_there: int = 0
    files_unnamed: int = 0  # no receipt names them: their name in the reports is the hash
    bodies_replayed: int = 0
    polled_days_written: int = 0
    receipts_replayed: int = 0
    derived_runs: int = 0
    failed_runs: int = 0
    not_rebuilt: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Receipt:
    """What the first receipt naming a file says of it: its name and origin as its report
    has them (a zip member's origin is `<zip>!<member>`), and when it was imported."""

    name: str
    origin: str
    imported_at: datetime | None


def receipt_names(inbox: Path, user_id: str) -> dict[str, Receipt]:
    """sha256 -> the earliest receipt's account of the file (the import that wrote it)."""
    names: dict[str, Receipt] = {}
    folder = inbox / user_id / "imported"
    for receipt in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        lines = receipt.read_text(errors="replace").splitlines()
        item = lines[0].split(": ", 1)[0] if lines else ""
        stamp = _STAMP.match(receipt.name)
        at = None if stamp is None else datetime.strptime(
            stamp.group(1), RECEIPT_STAMP).replace(tzinfo=UTC)
        for line in lines[1:]:
            match = _RECEIPT_LINE.match(line)
            if match:
                name = match.group(2)
                origin = f"{item}!{name}" if item.lower().endswith(".zip") else name
                names.setdefault(match.group(1), Receipt(name, origin, at))
    return names


def _users(raw_root: Path, source: str) -> list[str]:
    folder = raw_root / source
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def replay_exports(settings: Settings, warehouse, report: RebuildReport) -> None:
    from spotify_assets.defs.listening.history import STALE_SCOPE
    from spotify_assets.defs.listening.imports import _days, _write_files
    from spotify_assets.defs.listening.tables import IMPORT_REPORTS
    from spotify_assets.lib.clock import floor_ms
    from spotify_assets.lib.exports import ExportFile, parse_export_file
    from spotify_assets.lib.raw import RawStore

    raw = RawStore(settings.raw_dir)
    for user_id in _users(settings.raw_dir, EXPORTS_SOURCE):
        names = receipt_names(settings.inbox_dir, user_id)
        for path in raw.iter(EXPORTS_SOURCE, user_id):
            sha256 = path.name.split(".", 1)[0]
            if warehouse.has_partition(IMPORT_REPORTS, f"{user_id}/{sha256}"):
                report.files_already_there += 1
                continue
            # No receipt (lost, or a kill before it was written): named by its hash, and
            # imported when its raw copy was written.
            landed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            receipt = names.get(sha256) or Receipt(f"{sha256}.json", f"{sha256}.json", None)
            report.files_unnamed += sha256 not in names
            export_file = ExportFile.from_path(path, name=receipt.name, origin=receipt.origin)
            export = parse_export_file(user_id, export_file)
            with warehouse.transaction(stale={STALE_SCOPE: _days(export.observations)}) as tx:
                _write_files(tx, user_id, [(export_file, export)],
                             floor_ms(receipt.imported_at or landed))
            report.files_imported += 1


def _landed_at(path: Path) -> datetime | None:
    match = _LANDED.search(path.as_posix())
    if match is None:
        return None
    return datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H%M%S").replace(
        tzinfo=UTC
    )


def replay_polls(settings: Settings, warehouse, report: RebuildReport) -> None:
    import pandas as pd

    from spotify_assets.defs.listening.poll import _rows, merge_day
    from spotify_assets.lib.polling import REACHABLE
    from spotify_assets.lib.raw import RawStore
    from spotify_assets.lib.spotify.paging import parse_recent_page

    raw = RawStore(settings.raw_dir)
    for user_id in _users(settings.raw_dir, RECENT_SOURCE):
        # As the poll judged them: late against Spotify's moment of the previous answer, a
        # full page a possible gap once some play had been seen (the poll's cursor).
        frames, previous, seen = [], None, False
        bodies = [(p, _landed_at(p)) for p in raw.iter(RECENT_SOURCE, user_id)]
        for path, landed in sorted(
            (b for b in bodies if b[1] is not None), key=lambda b: (b[1], b[0].name)
        ):
            page = parse_recent_page(json.loads(gzip.decompress(path.read_bytes())), limit=50)
            items = sorted(page.items, key=lambda item: item.played_at, reverse=True)
            full = seen and len(items) >= REACHABLE
            if items:
                frames.append(_rows(user_id, items, landed, previous, full_page_after_a_poll=full))
            previous, seen = landed, seen or bool(items)
            report.bodies_replayed += 1
        if not frames:
            continue
        # One pass per day file, in landing order: the first sighting of a play is kept, as
        # a poll after poll would have kept it (and a play already in the lake stays as it is).
        rows = pd.concat(frames, ignore_index=True)
        for day, new in rows.groupby(rows["played_at"].dt.date):
            if merge_day(warehouse, user_id, day, new) is not None:
                report.polled_days_written += 1


# Not tables: the wrapped's report files (`reports/`), written again from the tables.
REPORT_FILES = ("monthly_wrapped_reports", "yearly_wrapped_reports")
# Computed only from other tables: run again over the partitions they had, once their inputs
# are back (`rematerialize_derived`).
DERIVED = (
    "listening_heatmap",
    "top_albums",
    "top_tracks_movement",
    "top_artists_movement",
    "trending_artists",
    "genres",
    "tops_from_plays",
    "release_radar",
    "monthly_wrapped",
    "monthly_wrapped_tops",
    "yearly_wrapped",
    "yearly_wrapped_tops",
    *REPORT_FILES,
    "poll_plan",  # the plan store and registry in `state/`, which outlive the lake
    # Last: a description of the new lake itself (its generation, superseded files), so the
    # one table that cannot equal the lost lake's.
    "lake_storage",
)
# Written again from the MusicBrainz cache in `state/` (which outlives the lake).
FROM_CACHE = ("mb_recordings", "mb_releases", "mb_artists", "mb_tags")


def _replays() -> dict:
    """Receipt recipe -> the code that writes its rows again (each beside the asset that
    wrote them first)."""
    from spotify_assets.defs.listening.tracks import TRACKS_RECIPE, replay_tracks
    from spotify_assets.defs.musicbrainz.albums import ALBUMS_RECIPE, replay_albums
    from spotify_assets.defs.releases import appearances, radar
    from spotify_assets.defs.releases.artists import (
        FOLLOWS_RECIPE,
        RELEASES_RECIPE,
        replay_follows,
        replay_releases,
    )
    from spotify_assets.defs.tops import snapshots
    from spotify_assets.defs.wrapped import playlists
    from spotify_assets.defs.wrapped.captured import CAPTURE_RECIPE, replay_capture

    return {
        snapshots.FETCHED: snapshots.replay,
        snapshots.COPIED: snapshots.replay,
        FOLLOWS_RECIPE: replay_follows,
        CAPTURE_RECIPE: replay_capture,
        appearances.RECIPE: appearances.replay,
        radar.PLAYLISTS_RECIPE: radar.replay_playlist,
        playlists.RECIPE: playlists.replay,
        RELEASES_RECIPE: replay_releases,
        ALBUMS_RECIPE: replay_albums,
        TRACKS_RECIPE: replay_tracks,
    }


def replay_receipts(settings: Settings, warehouse, report: RebuildReport) -> None:
    """Every receipt that wrote a partition the lake lacks, oldest first: all the writes of a
    lost partition happen again in their order (a copy reads what was written before it)."""
    from spotify_assets.lib.raw import RawStore

    raw = RawStore(settings.raw_dir)
    receipts = raw.receipts()
    missing = {
        (table, partition) for r in receipts for table, partition in r["writes"]
        if not warehouse.has_partition(table, partition)
    }
    replays = _replays()
    for receipt in receipts:
        if not any((table, partition) in missing for table, partition in receipt["writes"]):
            continue
        replay = replays.get(receipt["recipe"])
        if replay is None:
            raise RuntimeError(f"a receipt of {receipt['recipe']!r}: no code replays it")
        replay(settings, warehouse, raw.root, receipt)
        report.receipts_replayed += 1


def _ranges(keys: list[str], done: set[str]) -> list[tuple[str, str]]:
    """The contiguous runs of `done` among the partition keys, in order, as (first, last)."""
    ranges: list[tuple[str, str]] = []
    start = previous = None
    for key in keys:
        if key in done:
            start, previous = start or key, key
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return ranges


def _unlisted_spans(instance, key, listed: set[str]) -> set[tuple[str, str]]:
    """Ranges run up to a partition the definition does not list yet (the week or year so
    far, which the demo materializes): Dagster records no materialization of that partition
    (or one without a partition), the run's tags keep the range."""
    from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG

    spans, runs = set(), {}
    for record in instance.fetch_materializations(key, limit=1000).records:
        if record.run_id not in runs:
            runs[record.run_id] = instance.get_run_by_id(record.run_id)
        tags = runs[record.run_id].tags if runs[record.run_id] is not None else {}
        if RANGE_START_TAG in tags and tags[RANGE_END_TAG] not in listed:
            spans.add((tags[RANGE_START_TAG], tags[RANGE_END_TAG]))
    return spans


def rematerialize_derived(settings: Settings, instance, definitions,
                          report: RebuildReport) -> None:
    """Run the assets computed only from other tables again, over the partitions the
    instance says each had, in the graph's order (one run per contiguous range): their
    inputs are back, and they read no clock and ask no API."""
    import dagster as dg

    from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
    from spotify_assets.materialize import materialize_selection

    graph = definitions.resolve_asset_graph()
    wanted = set(DERIVED)
    last = dg.AssetKey(DERIVED[-1])
    for key in [*(k for k in graph.toposorted_asset_keys if k != last), last]:
        name = key.to_user_string()
        if name not in wanted:
            continue
        # A multi-asset's tables are written by one run.
        siblings = sorted(k.to_user_string() for k in graph.get(key).execution_set_asset_keys)
        wanted -= set(siblings)
        partitions_def = graph.get(key).partitions_def
        done = instance.get_materialized_partitions(key) if partitions_def else set()
        if partitions_def is None:
            if instance.get_latest_materialization_event(key) is None:
                continue
            runs = [{}]
        else:
            listed = partitions_def.get_partition_keys()
            unlisted = sorted(_unlisted_spans(instance, key, set(listed)))
            # Keys are ISO dates or years: as text they sort as time does.
            spans = [s for s in _ranges(listed, done)
                     if not any(u[0] <= s[0] and s[1] <= u[1] for u in unlisted)] + unlisted
            runs = [{RANGE_START_TAG: start, RANGE_END_TAG: end} for start, end in spans]
        for tags in runs:
            span = f" {tags[RANGE_START_TAG]} .. {tags[RANGE_END_TAG]}" if tags else ""
            print(f"rematerializing {', '.join(siblings)}{span}", flush=True)
            try:
                materialize_selection(settings, siblings, instance=instance, tags=tags)
            except Exception as exc:  # one failure must not stop the others; counted
                print(f"  failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                report.failed_runs += 1
            report.derived_runs += 1


def not_rebuilt(definitions) -> list[str]:
    """Asset keys of the graph this command does not rebuild from raw."""
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    return sorted(keys - set(REBUILT) - set(DERIVED) - set(FROM_CACHE))


def rebuild(settings: Settings, instance) -> RebuildReport:
    """Replay raw into the lake, then refresh the history of every day that changed."""
    from spotify_assets.definitions import defs
    from spotify_assets.defs.listening.commands import refresh_stale
    from spotify_assets.defs.musicbrainz.assets import tables_from_cache
    from spotify_assets.defs.resources import Warehouse

    definitions = defs()
    report = RebuildReport(not_rebuilt=not_rebuilt(definitions))
    warehouse = Warehouse(settings)
    replay_exports(settings, warehouse, report)
    replay_polls(settings, warehouse, report)
    replay_receipts(settings, warehouse, report)
    warehouse.publish()
    report.failed_runs = refresh_stale(settings, instance, stats=False)
    # After the history: the match tables name what the lake's plays and lists show.
    tables_from_cache(settings, warehouse)
    warehouse.publish()
    rematerialize_derived(settings, instance, definitions, report)
    return report
