-- One row per user per local day. Inputs: view `plays` (UTC days D-1 .. D+1), `timezones`
-- (user_id, tz), `params` (first_day, end_day, default_tz). A play counts on the local day it
-- started; its minutes are listened_ms (exact from exports, estimated for polled-only plays).
with local_plays as (
    select
        p.*,
        coalesce(t.tz, (select default_tz from params)) as tz,
        cast(timezone(coalesce(t.tz, (select default_tz from params)), p.started_at) as date)
            as local_date
    from plays as p
    left join timezones as t using (user_id)
),
in_window as (
    select *
    from local_plays
    where local_date >= (select first_day from params)
      and local_date < (select end_day from params)
),
per_track as (
    select
        user_id, local_date, track_key,
        any_value(track_id order by track_id nulls last) as track_id,
        min(track_name) as track_name,  -- spellings of one key differ: a fixed pick
        min(artist_name) as artist_name,
        count(*) as plays,
        sum(listened_ms) as ms
    from in_window
    group by all
),
top_track as (
    -- The most played, then the longest listened, then the first key: one aggregate, not a
    -- window over every (user, day, track) (half this query's time over a decade). The day's
    -- distinct tracks (artists below) are its groups: no distinct count over every play.
    select
        user_id, local_date,
        arg_min(
            {'track_key': track_key, 'track_id': track_id, 'track_name': track_name,
             'artist_name': artist_name, 'plays': plays},
            (-plays, -ms, track_key)
        ) as top,
        count(*) as distinct_tracks
    from per_track
    group by all
),
per_artist as (
    select user_id, local_date, artist_name, count(*) as plays, sum(listened_ms) as ms
    from in_window
    where artist_name is not null
    group by all
),
top_artist as (
    select
        user_id, local_date,
        arg_min({'artist_name': artist_name, 'plays': plays}, (-plays, -ms, artist_name)) as top,
        count(*) as distinct_artists
    from per_artist
    group by all
),
totals as (
    select
        user_id,
        local_date,
        any_value(tz) as tz,
        sum(listened_ms) / 60000.0 as minutes,
        coalesce(sum(listened_ms) filter (where listened_ms_estimated), 0) / 60000.0
            as estimated_minutes,
        count(*) as plays,
        min(started_at) as first_play_at,
        max(ended_at) as last_play_at
    from in_window
    group by all
)
select
    totals.user_id,
    totals.local_date as date,
    totals.tz as timezone,
    totals.minutes,
    totals.estimated_minutes,
    totals.plays,
    top_track.distinct_tracks,
    coalesce(top_artist.distinct_artists, 0) as distinct_artists,
    top_track.top.track_key as top_track_key,
    top_track.top.track_id as top_track_id,
    top_track.top.track_name as top_track_name,
    top_track.top.artist_name as top_track_artist,
    top_track.top.plays as top_track_plays,
    top_artist.top.artist_name as top_artist_name,
    top_artist.top.plays as top_artist_plays,
    totals.first_play_at,
    totals.last_play_at
from totals
left join top_track using (user_id, local_date)
left join top_artist using (user_id, local_date)
order by date, user_id
