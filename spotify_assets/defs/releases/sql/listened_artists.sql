-- The artists our users play, most listeners first (the MusicBrainz fallback of new releases).
-- Input: `plays` (plays rows of the window). Only plays with known artist ids (polled) count;
-- the primary artist is the first credited.
select
    artist_ids[1] as artist_id,
    count(distinct user_id) as listeners,
    count(*) as plays
from plays
where artist_ids is not null and len(artist_ids) > 0
group by all
order by listeners desc, plays desc, artist_id
