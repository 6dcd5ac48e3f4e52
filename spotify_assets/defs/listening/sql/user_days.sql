-- Each user's first and last UTC day with a play. Input: view `plays` (every day file).
select user_id, min(day) as first_day, max(day) as last_day
from plays
group by user_id
