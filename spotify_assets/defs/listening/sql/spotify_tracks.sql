-- Every track plays refer to, with what the lake already says about it (no request is made):
--   * ref_kind 'id': each track id of plays, polled_plays and top_tracks. A polled play or a
--     top-list snapshot describes the whole track (`described_by` poll/top, the newest wins);
--     a fetched album (`spotify_albums`) that lists the track gives its album (`listed_album_id`),
--     and its artists when the album credits one artist on all its listed tracks (then each of
--     them is by that artist alone).
--   * ref_kind 'name': each track_key of plays without a track id (account-data exports), with
--     the title and artist to search for.
-- `plays` counts the plays of each; `hint_album`/`hint_artist` (the export's album and album
-- artist) let the caller group unknown tracks by album.
with heard as (
    select
        track_id,
        count(*) as plays,
        min(track_name) as title,
        min(album_name) as hint_album,
        min(artist_name) as hint_artist
    from plays
    where track_id is not null
    group by track_id
),
described as (
    select
        track_id, track_name, artist_ids, artist_names, album_id, album_name, isrc,
        duration_ms, 'poll' as described_by, 1 as preference, polled_at as seen_at
    from polled_plays
    where track_id is not null and len(artist_ids) > 0
    union all
    select
        track_id, track_name, artist_ids, artist_names, album_id, album_name, isrc,
        duration_ms, 'top', 2, fetched_at
    from top_tracks
    where len(artist_ids) > 0
),
best as (
    select *
    from described
    qualify row_number() over (
        partition by track_id order by preference, seen_at desc, album_id
    ) = 1
),
listed as (
    select
        unnest(track_ids) as track_id,
        album_id,
        name as album_name,
        case when len(credited_artist_ids) = 1 then credited_artist_ids end as artist_ids,
        case when len(credited_artist_ids) = 1 then credited_artist_names end as artist_names
    from spotify_albums
    where status = 'ok'
),
listed_once as (
    select * from listed
    qualify row_number() over (partition by track_id order by album_id) = 1
),
ids as (
    select track_id from heard
    union
    select track_id from described
)
select
    'id' as ref_kind,
    null::varchar as track_key,
    i.track_id,
    coalesce(b.track_name, h.title) as title,
    coalesce(h.plays, 0) as plays,
    h.hint_album,
    h.hint_artist,
    b.described_by,
    b.artist_ids,
    b.artist_names,
    b.album_id,
    b.album_name,
    b.isrc,
    b.duration_ms,
    l.album_id as listed_album_id,
    l.album_name as listed_album_name,
    l.artist_ids as listed_artist_ids,
    l.artist_names as listed_artist_names
from ids as i
left join heard as h using (track_id)
left join best as b using (track_id)
left join listed_once as l using (track_id)
union all
select
    'name',
    track_key,
    null,
    min(track_name),
    count(*),
    min(album_name),
    min(artist_name),
    null, null, null, null, null, null, null, null, null, null, null
from plays
where track_id is null
group by track_key
order by ref_kind, track_id, track_key
