-- One row per user and period with plays: the wrapped's numbers (columns documented in
-- defs/wrapped/tables.py).
-- Inputs: `wrapped_plays` (sql/wrapped_plays.sql), `periods` (period, period_start, period_end:
-- local dates, end exclusive), `tops` (sql/wrapped_tops.sql, for the #1 track and artist).
with scoped as (
    select pr.period, pr.period_start, pr.period_end, w.*
    from wrapped_plays as w
    join periods as pr on w.local_date >= pr.period_start and w.local_date < pr.period_end
),
totals as (
    select
        user_id,
        period,
        any_value(period_start) as period_start,
        any_value(period_end) as period_end,
        any_value(tz) as timezone,
        sum(listened_ms) / 60000.0 as minutes,
        coalesce(sum(listened_ms) filter (where listened_ms_estimated), 0) / 60000.0
            as estimated_minutes,
        count(*) as plays,
        count(distinct recording_key) as distinct_tracks,
        count(distinct artist_key) filter (where artist_key <> '') as distinct_artists,
        count(distinct album_key) filter (where album_name is not null) as distinct_albums,
        count(distinct artist_key) filter (
            where artist_key <> ''
              and artist_first_day >= period_start
              and artist_first_day < period_end
        ) as new_artists,
        count(distinct local_date) as days_listened,
        count_if(skipped) / nullif(count(skipped), 0) as skipped_share,
        count(skipped) as skip_known_plays,
        count_if(shuffle) / nullif(count(shuffle), 0) as shuffle_share,
        count(shuffle) as shuffle_known_plays,
        min(started_at) as first_play_at,
        max(ended_at) as last_play_at
    from scoped
    group by user_id, period
),
per_day as (
    select user_id, period, local_date, sum(listened_ms) as ms
    from scoped
    group by all
),
peak as (
    select user_id, period, local_date as peak_day, ms / 60000.0 as peak_day_minutes
    from per_day
    qualify row_number() over (partition by user_id, period order by ms desc, local_date) = 1
),
-- Consecutive days share (day - its position among the listening days).
islands as (
    select
        user_id, period, local_date,
        local_date - cast(
            row_number() over (partition by user_id, period order by local_date) as integer
        ) as island
    from per_day
),
streaks as (
    select user_id, period, min(local_date) as streak_start, count(*) as streak_days
    from islands
    group by user_id, period, island
),
longest as (
    select * from streaks
    qualify row_number() over (
        partition by user_id, period order by streak_days desc, streak_start
    ) = 1
),
hour_slots as (
    select t.user_id, t.period, h.hour
    from totals as t
    cross join (select unnest(range(24)) as hour) as h
),
per_hour as (
    select user_id, period, local_hour as hour, sum(listened_ms) as ms
    from scoped
    group by all
),
by_hour as (
    select
        s.user_id, s.period,
        list(coalesce(ph.ms, 0) / 60000.0 order by s.hour) as minutes_by_hour
    from hour_slots as s
    left join per_hour as ph using (user_id, period, hour)
    group by s.user_id, s.period
),
day_slots as (
    select
        t.user_id, t.period,
        cast(unnest(generate_series(
            cast(t.period_start as timestamp),
            cast(t.period_end as timestamp) - interval 1 day,
            interval 1 day
        )) as date) as local_date
    from totals as t
),
by_day as (
    select
        s.user_id, s.period,
        list(coalesce(d.ms, 0) / 60000.0 order by s.local_date) as minutes_by_day
    from day_slots as s
    left join per_day as d using (user_id, period, local_date)
    group by s.user_id, s.period
),
month_slots as (
    select
        t.user_id, t.period,
        cast(unnest(generate_series(
            cast(t.period_start as timestamp),
            cast(t.period_end as timestamp) - interval 1 day,
            interval 1 month
        )) as date) as month
    from totals as t
),
per_month as (
    select user_id, period, date_trunc('month', local_date) as month, sum(listened_ms) as ms
    from scoped
    group by all
),
by_month as (
    select
        s.user_id, s.period,
        list(coalesce(m.ms, 0) / 60000.0 order by s.month) as minutes_by_month
    from month_slots as s
    left join per_month as m using (user_id, period, month)
    group by s.user_id, s.period
),
top_track as (
    select user_id, period, entity_key, spotify_id, name, artist_name, plays
    from tops
    where entity = 'track' and rank = 1
),
top_artist as (
    select user_id, period, name
    from tops
    where entity = 'artist' and rank = 1
)
select
    t.user_id,
    t.period,
    t.period_start,
    t.timezone,
    t.minutes,
    t.estimated_minutes,
    t.plays,
    t.distinct_tracks,
    t.distinct_artists,
    t.distinct_albums,
    t.new_artists,
    t.days_listened,
    p.peak_day,
    p.peak_day_minutes,
    l.streak_days as longest_streak_days,
    l.streak_start as longest_streak_start,
    tt.entity_key as top_track_key,
    tt.spotify_id as top_track_id,
    tt.name as top_track_name,
    tt.artist_name as top_track_artist,
    tt.plays as top_track_plays,
    ta.name as top_artist_name,
    t.skipped_share,
    t.skip_known_plays,
    t.shuffle_share,
    t.shuffle_known_plays,
    h.minutes_by_hour,
    d.minutes_by_day,
    m.minutes_by_month,
    t.first_play_at,
    t.last_play_at
from totals as t
join peak as p using (user_id, period)
join longest as l using (user_id, period)
join by_hour as h using (user_id, period)
join by_day as d using (user_id, period)
join by_month as m using (user_id, period)
left join top_track as tt using (user_id, period)
left join top_artist as ta using (user_id, period)
order by t.period, t.user_id
