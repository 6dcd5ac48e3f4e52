-- Each user's most played primary artists (the release radar's optional second source).
-- Inputs: `plays` (plays rows of the 90 days), `params` (per_user: artists kept per user).
-- Only plays with known artist ids count (polled, or export rows matched to a poll): the
-- radar needs an artist id to fetch. Ranked by plays, then minutes, then id.
with counted as (
    select
        user_id,
        artist_ids[1] as artist_id,
        any_value(artist_name) as artist_name,
        count(*) as plays,
        sum(listened_ms) as listened_ms
    from plays
    where artist_ids is not null and len(artist_ids) > 0
    group by all
),
ranked as (
    select
        *,
        row_number() over (
            partition by user_id order by plays desc, listened_ms desc, artist_id
        ) as rank
    from counted
)
select user_id, artist_id, artist_name, rank
from ranked
where rank <= (select per_user from params)
order by user_id, rank
