-- Every Spotify track that plays, polled plays or top-track snapshots mention, one row each,
-- with the fullest metadata any of them gave. Export-only plays carry a track id and names but
-- no ISRC, album or artist ids; a polled play or a top list of the same track fills them in.
-- `weight` (plays plus top-list appearances) orders the enrichment backlog: most heard first.
with observed as (
    select
        track_id,
        track_name as title,
        coalesce(artist_ids, []) as artist_ids,
        case when artist_name is null then [] else [artist_name] end as artist_names,
        album_id,
        duration_ms,
        isrc,
        1 as weight
    from plays
    where track_id is not null
    union all
    -- Polled plays reach `plays` through the merge; they count there, here they add metadata.
    select
        track_id, track_name, coalesce(artist_ids, []), coalesce(artist_names, []),
        album_id, duration_ms, isrc, 0
    from polled_plays
    where track_id is not null
    union all
    select
        track_id, track_name, coalesce(artist_ids, []), coalesce(artist_names, []),
        album_id, duration_ms, isrc, 1
    from top_tracks
    where track_id is not null
)
select
    track_id,
    max(title) as title,
    arg_max(artist_ids, len(artist_ids)) as artist_ids,
    arg_max(artist_names, len(artist_names)) as artist_names,
    max(album_id) as album_id,
    max(duration_ms) as duration_ms,
    max(upper(isrc)) as isrc,
    sum(weight) as weight
from observed
group by track_id
order by track_id
