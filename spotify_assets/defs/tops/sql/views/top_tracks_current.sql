-- Each user's latest top-tracks snapshot per time range (one row per track).
select *
from tops.top_tracks
qualify snapshot_date = max(snapshot_date) over (partition by user_id, time_range)
