-- Sessions: a new one starts when a play starts more than `gap_minutes` after the previous
-- play of that user stopped. Inputs: view `plays` (UTC days D-1 .. D+1), `params` (first_day,
-- end_day, gap_minutes). Sessions are filed under the UTC day they started; one that began the
-- day before is that day's, so reading D-1 finds where a session around midnight began.
with ordered as (
    select
        *,
        lag(ended_at) over (partition by user_id order by started_at, play_id) as previous_end
    from plays
),
marked as (
    select
        *,
        case
            when previous_end is null
              or started_at > previous_end + to_minutes((select gap_minutes from params))
            then 1 else 0
        end as is_start
    from ordered
),
numbered as (
    select
        *,
        sum(is_start) over (
            partition by user_id order by started_at, play_id rows unbounded preceding
        ) as session_no
    from marked
),
sessions as (
    select
        user_id,
        session_no,
        arg_min(play_id, started_at) as first_play_id,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        count(*) as plays,
        sum(listened_ms) / 60000.0 as listened_minutes,
        count(distinct track_key) as distinct_tracks,
        mode(artist_name) as top_artist_name
    from numbered
    group by user_id, session_no
)
select
    user_id,
    user_id || ':' || first_play_id as session_id,
    cast(started_at at time zone 'UTC' as date) as day,
    started_at,
    ended_at,
    plays,
    listened_minutes,
    distinct_tracks,
    top_artist_name
from sessions
where cast(started_at at time zone 'UTC' as date) >= (select first_day from params)
  and cast(started_at at time zone 'UTC' as date) < (select end_day from params)
order by user_id, started_at
