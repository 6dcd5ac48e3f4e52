-- Per user, local ISO weekday and hour: plays and minutes over all history.
-- Inputs: view `plays` (all days), `timezones` (user_id, tz), `params` (default_tz).
with local_plays as (
    select
        p.user_id,
        p.listened_ms,
        timezone(coalesce(t.tz, (select default_tz from params)), p.started_at) as local_start
    from plays as p
    left join timezones as t using (user_id)
)
select
    user_id,
    cast(isodow(local_start) as tinyint) as weekday,
    cast(hour(local_start) as tinyint) as hour,
    count(*) as plays,
    sum(listened_ms) / 60000.0 as minutes
from local_plays
group by all
order by user_id, weekday, hour
