-- Sessions: a new one starts when a play starts more than `gap_minutes` after the previous
-- play of that user stopped. Inputs: view `plays` (UTC days around [first_day, end_day)),
-- `params` (first_day, end_day, gap_minutes). Sessions are filed under the UTC day they started.
-- `open_before` / `open_after` flag a session that begins with the first play read for its user
-- or ends with the last one: it may really have begun earlier or go on later, so the caller
-- reads more days around and asks again (a session's rows must not depend on which days a run
-- happened to read).
with ordered as (
    -- One window order for all three (first and last read are the rows without a neighbour):
    -- a descending row_number needed a second sort of every play of a user, single-threaded.
    select
        *,
        lag(ended_at) over (partition by user_id order by started_at, play_id) as previous_end,
        lag(play_id) over (partition by user_id order by started_at, play_id) is null
            as first_read,
        lead(play_id) over (partition by user_id order by started_at, play_id) is null
            as last_read
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
top_artists as (
    -- The most played primary artist of a session; ties go to the name first in order, so the
    -- answer never depends on the order rows arrived in.
    select user_id, session_no, artist_name
    from (
        select user_id, session_no, artist_name, count(*) as plays
        from numbered
        where artist_name is not null
        group by all
    )
    qualify row_number() over (
        partition by user_id, session_no order by plays desc, artist_name
    ) = 1
),
sessions as (
    select
        user_id,
        session_no,
        arg_min(play_id, (started_at, play_id)) as first_play_id,
        min(started_at) as started_at,
        max(ended_at) as ended_at,
        count(*) as plays,
        sum(listened_ms) / 60000.0 as listened_minutes,
        count(distinct track_key) as distinct_tracks,
        bool_or(first_read) as open_before,
        bool_or(last_read) as open_after
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
    top_artists.artist_name as top_artist_name,
    open_before,
    open_after
from sessions
left join top_artists using (user_id, session_no)
where cast(started_at at time zone 'UTC' as date) >= (select first_day from params)
  and cast(started_at at time zone 'UTC' as date) < (select end_day from params)
order by user_id, started_at
