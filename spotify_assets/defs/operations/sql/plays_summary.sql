-- Play ids, and plays that end after the horizon (now + clock skew) or start after they end.
select
    count(*) as plays,
    count(distinct play_id) as distinct_play_ids,
    count(*) filter (where ended_at > (select horizon from params)) as future,
    count(*) filter (where started_at > ended_at) as reversed
from plays
