-- Each user's latest top-artists snapshot per time range (one row per artist).
select *
from tops.top_artists
qualify snapshot_date = max(snapshot_date) over (partition by user_id, time_range)
