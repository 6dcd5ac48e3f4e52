-- Since when each album is listed in a new-releases source, and how high it got.
select
    source,
    album_key,
    any_value(name) as name,
    any_value(artist_names) as artist_names,
    any_value(release_date) as release_date,
    min(seen_at) as first_seen_at,
    max(seen_at) as last_seen_at,
    count(*) as snapshots,
    min(position) as best_position
from releases.album_appearances
group by source, album_key
