-- Per user per UTC day: which sources saw the plays, and how polling caught them.
-- Inputs: view `plays` (the window's days); table `polled` (user_id, played_at, duration_ms,
-- late_synced, gap_before of the polled plays around the window). A polled play counts on the
-- day it started, estimated as played_at - duration_ms (the poll does not say how long it
-- played); the rare play a minute either side of midnight may count on its neighbour day.
with seen as (
    select
        user_id,
        day,
        count(*) as plays,
        count(*) filter (where list_contains(sources, 'poll')) as seen_by_poll,
        count(*) filter (
            where len(list_filter(sources, lambda s: s like 'export_%')) > 0
        ) as seen_by_export,
        count(*) filter (where sources = ['poll']) as poll_only,
        count(*) filter (where not list_contains(sources, 'poll')) as export_only
    from plays
    group by user_id, day
),
flags as (
    select
        user_id,
        cast(timezone('UTC', played_at - to_milliseconds(coalesce(duration_ms, 0))) as date) as day,
        count(*) filter (where late_synced) as late_synced,
        count(*) filter (where gap_before) as possible_gaps
    from polled
    group by all
)
select
    seen.*,
    coalesce(flags.late_synced, 0) as late_synced,
    coalesce(flags.possible_gaps, 0) as possible_gaps
from seen
left join flags using (user_id, day)
order by day, user_id
