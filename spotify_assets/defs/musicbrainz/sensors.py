"""When enrichment runs: a sensor asks for `musicbrainz_job` while there is work it can do.

Work = albums whose Spotify body is not fetched yet, entities that are due (never asked, or
unmatched past their back-off) and matched artists whose tags are missing. Each run takes a
bounded batch, so a big first import becomes a series of runs, one at a time (never while one
is queued or running). When a run changed nothing (e.g. no user can fetch albums) the sensor
waits `STALL_WAIT` before trying again instead of starting idle runs.
"""

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import dagster as dg

from spotify_assets.defs.musicbrainz.assets import cache_path
from spotify_assets.defs.musicbrainz.cache import MbCache
from spotify_assets.defs.musicbrainz.enrich import due_now
from spotify_assets.defs.musicbrainz.entities import seen_entities
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.settings import Settings

MUSICBRAINZ_ASSETS = [
    "spotify_albums",
    "mb_recordings",
    "mb_releases",
    "mb_artists",
    "mb_tags",
    "genres",
]
STALL_WAIT_S = 3600.0
_UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

musicbrainz_job = dg.define_asset_job(
    "musicbrainz_job", selection=dg.AssetSelection.assets(*MUSICBRAINZ_ASSETS)
)


@dataclass(frozen=True)
class Pending:
    albums_to_fetch: int
    due: int
    untagged: int

    @property
    def total(self) -> int:
        return self.albums_to_fetch + self.due + self.untagged


def pending_work(settings: Settings) -> Pending:
    """What an enrichment run could do now (reads the lake and the cache, asks nothing)."""
    seen = seen_entities(Warehouse(settings))
    with MbCache(cache_path(settings)) as cache:
        due = due_now(cache, seen, datetime.now(UTC))
        tagged = cache.tagged("artist")
        untagged = {
            r.mbid
            for r in cache.matches("artist").values()
            if r.status == "matched" and r.mbid not in tagged
        }
    waiting = sum(1 for a in seen.albums.values() if a.body is None)
    return Pending(waiting, len(due), len(untagged))


@dg.sensor(
    job=musicbrainz_job, minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.RUNNING
)
def musicbrainz_sensor(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult | dg.SkipReason:
    """Requests one bounded enrichment run while entities in plays or tops await MusicBrainz."""
    unfinished = context.instance.get_run_records(
        dg.RunsFilter(job_name=musicbrainz_job.name, statuses=_UNFINISHED), limit=1
    )
    if unfinished:
        return dg.SkipReason("a musicbrainz_job run is queued or running")
    pending = pending_work(settings)
    if not pending.total:
        return dg.SkipReason("nothing to enrich")
    previous = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    if previous.get("pending") == asdict(pending) and now - previous.get("at", 0) < STALL_WAIT_S:
        return dg.SkipReason(f"no progress since the last run ({pending}); waiting")
    cursor = json.dumps({"pending": asdict(pending), "at": now})
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"musicbrainz:{now:.0f}",
                tags={"spotify_assets/pending": str(pending.total)},
            )
        ],
        cursor=cursor,
    )
