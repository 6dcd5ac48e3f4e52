-- Per user per UTC day: which sources saw the plays. Input: view `plays` (the window's days).
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
order by day, user_id
