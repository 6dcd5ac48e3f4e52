"""The MusicBrainz assets: one bounded enrichment op writing the match and tag tables, and
`genres` derived from them (no requests)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.compute as pc

from spotify_assets.defs.musicbrainz.cache import MatchRow, MbCache, as_datetime
from spotify_assets.defs.musicbrainz.enrich import (
    DEFAULT_MAX_ENTITIES,
    Enricher,
    EnrichmentReport,
)
from spotify_assets.defs.musicbrainz.entities import Seen, lake_query, seen_entities
from spotify_assets.defs.musicbrainz.tables import (
    GENRES,
    MB_ARTISTS,
    MB_RECORDINGS,
    MB_RELEASES,
    MB_TAGS,
)
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.settings import Settings

ENRICHMENT_OP = "musicbrainz_enrichment"
POOL = "musicbrainz"
INPUTS = ["spotify_albums", "plays", "polled_plays", "top_tracks", "top_artists"]


def cache_path(settings: Settings) -> Path:
    return settings.state_dir / "musicbrainz_cache.sqlite3"


class EnrichmentConfig(dg.Config):
    """Run config of the enrichment: how many new (or due) entities one run may take."""

    max_entities: int = DEFAULT_MAX_ENTITIES


def _status(row: MatchRow) -> dict[str, Any]:
    return {
        "status": row.status,
        "method": row.method,
        "score": row.score,
        "matched_at": as_datetime(row.matched_at),
        "checked_at": as_datetime(row.checked_at),
        "attempts": row.attempts,
        "retry_after": as_datetime(row.retry_after),
    }


def match_tables(cache: MbCache, seen: Seen) -> dict[str, list[dict[str, Any]]]:
    """The four lake tables as rows: the cache's decisions with the Spotify side's names."""
    recordings = []
    for track_id, row in sorted(cache.matches("track").items()):
        track = seen.tracks.get(track_id)
        recordings.append(
            {
                "track_id": track_id,
                "recording_mbid": row.mbid,
                **_status(row),
                "title": track.title if track else None,
                "artist_ids": list(track.artist_ids) if track else None,
                "album_id": track.album_id if track else None,
                "isrc": track.isrc if track else None,
            }
        )
    releases = []
    for album_id, row in sorted(cache.matches("album").items()):
        album = seen.albums.get(album_id)
        body = album.body if album else None
        releases.append(
            {
                "album_id": album_id,
                "release_mbid": row.mbid,
                "release_group_mbid": row.group_mbid,
                **_status(row),
                "title": body.name if body else None,
                "upc": body.upc if body else None,
            }
        )
    artists = []
    for artist_id, row in sorted(cache.matches("artist").items()):
        artist = seen.artists.get(artist_id)
        artists.append(
            {
                "artist_id": artist_id,
                "artist_mbid": row.mbid,
                **_status(row),
                "name": artist.name if artist else None,
            }
        )
    tags = [
        {
            "entity_type": e,
            "mbid": m,
            "kind": k,
            "name": n,
            "count": c,
            "fetched_at": as_datetime(at),
        }
        for e, m, k, n, c, at in cache.tags()
    ]
    return {
        MB_RECORDINGS.name: recordings,
        MB_RELEASES.name: releases,
        MB_ARTISTS.name: artists,
        MB_TAGS.name: tags,
    }


def write_match_tables(warehouse: Warehouse, cache: MbCache, seen: Seen) -> dict[str, int]:
    specs = {s.name: s for s in (MB_RECORDINGS, MB_RELEASES, MB_ARTISTS, MB_TAGS)}
    counts = {}
    for name, rows in match_tables(cache, seen).items():
        counts[name] = warehouse.write(specs[name], rows).rows
    return counts


def tables_from_cache(settings: Settings, warehouse: Warehouse) -> dict[str, int]:
    """The four tables written again from the cache as it is, asking nothing (`spotify-assets
    rebuild`: the cache in `state/` outlives the lake)."""
    seen = seen_entities(warehouse)
    with MbCache(cache_path(settings)) as cache:
        return write_match_tables(warehouse, cache, seen)


def report_markdown(report: EnrichmentReport) -> str:
    lines = ["| entity | asked this run | matched |", "|---|---|---|"]
    for kind in ("album", "track", "artist"):
        lines.append(f"| {kind} | {report.asked[kind]} | {report.matched[kind]} |")
    lines += [
        "",
        f"MusicBrainz requests: {report.requests} ({report.requests_per_entity:.3f} per entity"
        f", {report.tag_lookups} tag lookups included); answered from cache: "
        f"{report.cache_hits}.",
        f"Due before: {report.due_before}; due after: {report.due_after}.",
    ]
    if report.stopped:
        lines.append(f"\n**Stopped early:** {report.stopped}")
    return "\n".join(lines)


def run_enrichment(
    settings: Settings, warehouse: Warehouse, client: Any, max_entities: int
) -> tuple[EnrichmentReport, dict[str, int]]:
    """One enrichment pass with the real clock, then the lake snapshot of the cache."""
    seen = seen_entities(warehouse)
    with MbCache(cache_path(settings)) as cache:
        report = Enricher(cache, client, clock=lambda: datetime.now(UTC)).run(seen, max_entities)
        counts = write_match_tables(warehouse, cache, seen)
    warehouse.publish()
    return report, counts


def _spec(name: str, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        name,
        group_name="musicbrainz",
        kinds={"musicbrainz", "parquet"},
        deps=INPUTS,
        description=description,
    )


@dg.multi_asset(
    name=ENRICHMENT_OP,
    specs=[
        _spec(MB_RECORDINGS.name, MB_RECORDINGS.doc),
        _spec(MB_RELEASES.name, MB_RELEASES.doc),
        _spec(MB_ARTISTS.name, MB_ARTISTS.doc),
        _spec(MB_TAGS.name, MB_TAGS.doc),
    ],
    # One enrichment at a time per deployment; the file-lock limiter keeps 1 request/s anyway.
    pool=POOL,
)
def musicbrainz_enrichment(
    context: dg.AssetExecutionContext,
    config: EnrichmentConfig,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    musicbrainz: dg.ResourceParam[Any],
) -> Iterator[dg.MaterializeResult]:
    """Matches up to `max_entities` due Spotify albums, tracks and artists to MusicBrainz
    (cascade and back-off: enrich.py), then rewrites the four tables from the cache."""
    report, counts = run_enrichment(settings, warehouse, musicbrainz, config.max_entities)
    summary = report_markdown(report)
    if report.stopped:
        # Every answer so far is cached and in the tables; the failure makes the outage visible.
        raise dg.Failure(
            f"MusicBrainz enrichment stopped early: {report.stopped}",
            metadata={"report": dg.MetadataValue.md(summary)},
        )
    for name, rows in counts.items():
        yield dg.MaterializeResult(
            asset_key=name,
            metadata={
                "dagster/row_count": rows,
                "requests": report.requests,
                "entities_asked": report.entities,
                "due_after": report.due_after,
                "report": dg.MetadataValue.md(summary),
            },
        )


@dg.asset(
    group_name="musicbrainz",
    kinds={"duckdb", "parquet"},
    deps=[MB_ARTISTS.name, MB_TAGS.name, MB_RECORDINGS.name],
)
def genres(warehouse: dg.ResourceParam[Warehouse]) -> dg.MaterializeResult:
    """One row per genre of a Spotify artist (its MusicBrainz genres, else its tags) or track
    (those of its first credited artist that has any), ranked by votes; the catalog view
    `artist_genres` exposes the artist rows to tops and wrapped."""
    table = lake_query(warehouse, "genres.sql", [MB_ARTISTS, MB_TAGS, MB_RECORDINGS])
    written = warehouse.write(GENRES, table)
    warehouse.publish()
    artists = table.filter(pc.equal(table["entity"], "artist"))
    top = {}
    for row in artists.to_pylist():
        if row["rank"] == 1:
            top[row["genre"]] = top.get(row["genre"], 0) + 1
    common = sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": written.rows,
            "artists_with_genres": len(set(artists["spotify_id"].to_pylist())),
            "top_genres": dg.MetadataValue.md(
                "| genre | artists (as #1) |\n|---|---|\n"
                + "\n".join(f"| {g} | {n} |" for g, n in common)
            ),
        }
    )
