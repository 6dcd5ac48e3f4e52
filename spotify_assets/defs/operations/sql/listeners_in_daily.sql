-- Listeners in `plays` and whether `daily_listening` has any day of theirs.
select
    p.user_id,
    p.user_id in (select distinct user_id from daily_listening) as in_daily
from (select distinct user_id from plays) as p
order by p.user_id
