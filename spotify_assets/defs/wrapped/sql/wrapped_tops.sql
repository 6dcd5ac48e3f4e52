-- The top 50 tracks, artists, albums, genres and new artists of each user and period, by
-- listened minutes (then plays, then name).
-- - A track is a recording (`recording_key`, the rule of defs/tops/sql/recordings.sql): the
--   plays of its track ids count together; it shows the names and id of the id played most
--   (then longest, then the smaller id).
-- - An artist is the normalised primary-artist name, an album the normalised primary artist
--   and album title (exports carry no album id), with the Spotify id any play showed.
-- - A genre: each play counts once for every genre of its primary artist (`artist_genres`,
--   MusicBrainz genres, or tags when an artist has no genre).
-- - A new artist: a primary artist whose first play ever (all of the user's history) lies in
--   the period.
-- Inputs: `wrapped_plays` (sql/wrapped_plays.sql), `periods` (period, period_start,
-- period_end: local dates, end exclusive), `artist_genres` (artist_id, genre), `params` (top_n).
with scoped as (
    select pr.period, pr.period_start, pr.period_end, w.*
    from wrapped_plays as w
    join periods as pr on w.local_date >= pr.period_start and w.local_date < pr.period_end
),
track_variants as (
    select
        user_id, period, recording_key, track_id, track_key,
        min(track_name) as name,
        min(artist_name) as artist_name,
        count(*) as plays,
        sum(listened_ms) as listened_ms
    from scoped
    group by all
),
track_shown as (
    select * from track_variants
    qualify row_number() over (
        partition by user_id, period, recording_key
        order by plays desc, listened_ms desc, track_id nulls last, track_key
    ) = 1
),
totals as (
    select
        s.user_id,
        s.period,
        'track' as entity,
        s.recording_key as entity_key,
        any_value(v.track_id) as spotify_id,
        any_value(v.name) as name,
        any_value(v.artist_name) as artist_name,
        count(*) as plays,
        sum(s.listened_ms) as listened_ms
    from scoped as s
    join track_shown as v using (user_id, period, recording_key)
    group by s.user_id, s.period, s.recording_key
    union all
    select
        user_id, period, 'artist', artist_key, min(artist_id), min(artist_name), null,
        count(*), sum(listened_ms)
    from scoped
    where artist_key <> ''
    group by user_id, period, artist_key
    union all
    select
        user_id, period, 'album', album_key, min(album_id), min(album_name), min(artist_name),
        count(*), sum(listened_ms)
    from scoped
    where album_name is not null
    group by user_id, period, album_key
    union all
    select
        s.user_id, s.period, 'genre', g.genre, null, g.genre, null,
        count(*), sum(s.listened_ms)
    from scoped as s
    join (select distinct artist_id, genre from artist_genres) as g using (artist_id)
    group by s.user_id, s.period, g.genre
    union all
    select
        user_id, period, 'new_artist', artist_key, min(artist_id), min(artist_name), null,
        count(*), sum(listened_ms)
    from scoped
    where artist_key <> ''
      and artist_first_day >= period_start
      and artist_first_day < period_end
    group by user_id, period, artist_key
),
ranked as (
    select
        *,
        row_number() over (
            partition by user_id, period, entity
            order by listened_ms desc, plays desc, name, artist_name, entity_key
        ) as rank
    from totals
)
select
    user_id,
    period,
    entity,
    cast(rank as integer) as rank,
    entity_key,
    spotify_id,
    name,
    artist_name,
    plays,
    listened_ms / 60000.0 as minutes
from ranked
where rank <= (select top_n from params)
order by user_id, period, entity, rank
