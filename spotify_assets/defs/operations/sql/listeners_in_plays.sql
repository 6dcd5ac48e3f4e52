-- Listeners whose sources hold plays (polled, or exported tracks of >= 30 s) on UTC days not
-- waiting for a refresh, and whether `plays` has any row of theirs.
with source_days as (
    select user_id, cast(played_at as date) as day from polled_plays
    union
    select user_id, cast(ended_at as date) as day
    from exported_plays
    where content_type = 'track' and ms_played >= 30000
),
expected as (
    select distinct user_id from source_days
    where day not in (select day from stale_days)
)
select
    e.user_id,
    e.user_id in (select distinct user_id from plays) as in_plays
from expected as e
order by e.user_id
