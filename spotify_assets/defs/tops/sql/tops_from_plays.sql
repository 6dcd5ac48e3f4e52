-- Top 50 tracks, artists, albums and genres per user and ListenBrainz range, by listened
-- minutes and by plays, as of the end of one local day.
-- Inputs: view `plays` (every plays file that can hold a play started on or before the as-of
-- day anywhere on earth), `timezones` (user_id, tz), `params` (as_of, default_tz, top_n),
-- `ranges` (time_range, period_start: null = open, period_end: exclusive), both local dates;
-- `artist_genres` (artist_id, genre): empty until MusicBrainz enrichment provides it;
-- `recordings` (track_id, track_key, recording_key): the recording of each track id and name
-- key (sql/recordings.sql).
-- A play belongs to the local day it started on, like daily_listening. A track is a recording:
-- plays of its track ids (a single and its album's track) count together, shown with the names
-- and id of the id played most (then longest, then the smaller id).
with local_plays as (
    select
        p.user_id,
        coalesce(t.tz, (select default_tz from params)) as tz,
        cast(timezone(coalesce(t.tz, (select default_tz from params)), p.started_at) as date)
            as local_date,
        p.track_id,
        p.track_key,
        coalesce(r_id.recording_key, r_name.recording_key, 'name:' || p.track_key)
            as recording_key,
        p.track_name,
        p.artist_name,
        p.artist_ids,
        p.album_id,
        p.album_name,
        p.listened_ms,
        -- track_key is 'artist<TAB>title', normalised (NFKC, casefold) by the merge rule.
        split_part(p.track_key, chr(9), 1) as artist_key,
        split_part(p.track_key, chr(9), 1) || chr(9)
            || lower(regexp_replace(trim(nfc_normalize(p.album_name)), '\s+', ' ', 'g'))
            as album_key
    from plays as p
    left join timezones as t using (user_id)
    left join recordings as r_id on r_id.track_id = p.track_id
    left join recordings as r_name
        on p.track_id is null and r_name.track_id is null and r_name.track_key = p.track_key
),
-- Export rows carry names only; polled rows carry ids. Artists and albums are grouped by
-- normalised name (so both kinds of row count together) and get the id any play showed.
artist_ids as (
    select artist_key, min(artist_ids[1]) as artist_id
    from local_plays
    where len(artist_ids) > 0
    group by all
),
album_ids as (
    select album_key, min(album_id) as album_id
    from local_plays
    where album_id is not null and album_name is not null
    group by all
),
in_range as (
    select r.time_range, r.period_start, r.period_end, lp.*
    from local_plays as lp
    join ranges as r
        on lp.local_date < r.period_end
       and (r.period_start is null or lp.local_date >= r.period_start)
),
-- Each recording's track ids (or name keys) in the range, and the one shown for it.
track_variants as (
    select
        user_id, time_range, recording_key, track_id, track_key,
        min(track_name) as name,
        min(artist_name) as artist_name,
        count(*) as plays,
        sum(listened_ms) as listened_ms
    from in_range
    group by all
),
track_shown as (
    select * from track_variants
    qualify row_number() over (
        partition by user_id, time_range, recording_key
        order by plays desc, listened_ms desc, track_id nulls last, track_key
    ) = 1
),
items as (
    select
        user_id, tz, time_range, period_start, period_end,
        'artist' as entity,
        artist_key as entity_key,
        ai.artist_id as entity_id,
        artist_name as name,
        null as artist_name,
        listened_ms
    from in_range
    left join artist_ids as ai using (artist_key)
    where artist_key <> ''
    union all
    select
        user_id, tz, time_range, period_start, period_end,
        'album',
        album_key,
        al.album_id,
        album_name,
        artist_name,
        listened_ms
    from in_range
    left join album_ids as al using (album_key)
    where album_name is not null
    union all
    -- Each play counts once for every genre of its primary artist.
    select
        user_id, tz, time_range, period_start, period_end,
        'genre',
        g.genre,
        null,
        g.genre,
        null,
        listened_ms
    from in_range
    join artist_ids as ai using (artist_key)
    join (select distinct artist_id, genre from artist_genres) as g using (artist_id)
),
totals as (
    select
        user_id,
        time_range,
        entity,
        entity_key,
        any_value(tz) as tz,
        any_value(period_start) as period_start,
        any_value(period_end) as period_end,
        min(entity_id) as entity_id,
        min(name) as name,
        min(artist_name) as artist_name,
        count(*) as plays,
        sum(listened_ms) as listened_ms
    from items
    group by all
    union all
    select
        i.user_id,
        i.time_range,
        'track',
        i.recording_key,
        any_value(i.tz),
        any_value(i.period_start),
        any_value(i.period_end),
        any_value(s.track_id),
        any_value(s.name),
        any_value(s.artist_name),
        count(*),
        sum(i.listened_ms)
    from in_range as i
    join track_shown as s using (user_id, time_range, recording_key)
    group by i.user_id, i.time_range, i.recording_key
),
ranked as (
    select
        *,
        'minutes' as metric,
        row_number() over (
            partition by user_id, time_range, entity
            order by listened_ms desc, plays desc, name, artist_name, entity_key
        ) as rank
    from totals
    union all
    select
        *,
        'plays' as metric,
        row_number() over (
            partition by user_id, time_range, entity
            order by plays desc, listened_ms desc, name, artist_name, entity_key
        ) as rank
    from totals
)
select
    user_id,
    (select as_of from params) as as_of_date,
    tz as timezone,
    time_range,
    period_start,
    period_end,
    entity,
    metric,
    rank,
    entity_key,
    entity_id,
    name,
    artist_name,
    plays,
    listened_ms,
    listened_ms / 60000.0 as minutes
from ranked
where rank <= (select top_n from params)
order by user_id, time_range, entity, metric, rank
