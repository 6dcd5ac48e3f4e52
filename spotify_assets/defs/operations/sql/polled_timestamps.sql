-- A polled play cannot have ended after the poll that saw it (Spotify's clock vs ours: skew).
select
    count(*) as plays,
    count(*) filter (
        where played_at > polled_at + to_minutes((select skew_minutes from params))
    ) as future
from polled_plays
