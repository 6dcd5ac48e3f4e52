-- Artists and tracks rising week over week across all users' plays.
-- Inputs: `plays` (plays rows started in the week and the week before), `params` (week,
-- week_start, min_listeners, cap_minutes).
-- Artists are keyed by their lower-cased primary artist name, tracks by `track_key`: the names
-- every source carries (ids only come with polled plays). Rising = this week at least
-- `min_listeners` distinct users, and either more listeners than the week before or capped
-- minutes up by half; capped minutes count at most `cap_minutes` per listener, so one binge
-- cannot make a trend. Ranked by listener growth, then capped-minute growth.
with tagged as (
    select
        user_id,
        started_at >= (select week_start from params) as this_week,
        listened_ms,
        lower(trim(artist_name)) as artist_key,
        artist_name,
        artist_ids[1] as artist_id,
        track_key,
        track_name,
        track_id
    from plays
    where artist_name is not null and trim(artist_name) <> ''
),
entities as (
    select
        'artist' as entity, artist_key as key, artist_name as name, artist_name,
        artist_id as spotify_id, user_id, this_week, listened_ms
    from tagged
    union all
    select
        'track' as entity, track_key as key, track_name as name, artist_name,
        track_id as spotify_id, user_id, this_week, listened_ms
    from tagged
),
-- Sums are of whole milliseconds, divided last: a sum of fractional minutes depends on the
-- order DuckDB's threads add them in, and the same plays must give the same bytes.
per_user as (
    select entity, key, user_id, this_week, sum(listened_ms) as ms, count(*) as plays
    from entities
    group by all
),
totals as (
    select
        entity,
        key,
        count(*) filter (where this_week) as listeners,
        count(*) filter (where not this_week) as listeners_prev,
        coalesce(sum(ms) filter (where this_week), 0) / 60000.0 as minutes,
        coalesce(sum(ms) filter (where not this_week), 0) / 60000.0 as minutes_prev,
        coalesce(
            sum(least(ms, (select cap_minutes from params) * 60000)) filter (where this_week), 0
        ) / 60000.0 as capped_minutes,
        coalesce(
            sum(least(ms, (select cap_minutes from params) * 60000)) filter (where not this_week),
            0
        ) / 60000.0 as capped_minutes_prev,
        coalesce(sum(plays) filter (where this_week), 0) as plays,
        coalesce(sum(plays) filter (where not this_week), 0) as plays_prev
    from per_user
    group by all
),
labels as (
    select
        entity,
        key,
        mode(name) as name,
        mode(artist_name) as artist_name,
        max(spotify_id) as spotify_id
    from entities
    group by all
),
rising as (
    select t.*, l.name, l.artist_name, l.spotify_id
    from totals t
    join labels l using (entity, key)
    where t.listeners >= (select min_listeners from params)
      and (
        t.listeners > t.listeners_prev
        or (t.capped_minutes > t.capped_minutes_prev
            and t.capped_minutes >= 1.5 * t.capped_minutes_prev)
      )
)
select
    (select week from params) as week,
    entity,
    row_number() over (
        partition by entity
        order by listeners - listeners_prev desc, capped_minutes - capped_minutes_prev desc, key
    ) as rank,
    key,
    name,
    artist_name,
    spotify_id,
    listeners,
    listeners_prev,
    minutes,
    minutes_prev,
    capped_minutes,
    capped_minutes_prev,
    plays,
    plays_prev
from rising
order by entity, rank
