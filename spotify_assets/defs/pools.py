"""The concurrency pools of the graph and their limits (set on the instance by
`ensure_pool_limits`, so no run ever races to create a pool's first slot)."""

from spotify_assets.defs.listening.history import HISTORY_ASSETS, day_pool
from spotify_assets.defs.musicbrainz.assets import POOL as MUSICBRAINZ_POOL
from spotify_assets.defs.wrapped.playlists import POOL as WRAPPED_PLAYLISTS_POOL

POOL_LIMITS: dict[str, int] = {
    # Two refreshes over the same months take turns on each history asset.
    **{day_pool(name): 1 for name in HISTORY_ASSETS},
    # One enrichment run at a time asks MusicBrainz anything.
    MUSICBRAINZ_POOL: 1,
    # Two runs of the same week take turns on its files (fetch log, playlists).
    "artist_releases": 1,
    "release_radar_playlists": 1,
    # Two runs of the same month would both see no playlist yet and both create one.
    WRAPPED_PLAYLISTS_POOL: 1,
}
