-- Top albums per user and time range, derived from one day's top-tracks snapshot.
-- Inputs: `tracks` (top_tracks rows of the day), `params` (top_n: albums kept per list).
-- An album counts when it is not a single and at least 2 of its tracks are in the list.
-- Score: the sum of its tracks' popularity when the list has popularity (extended quota),
-- else the rank-based fallback sum(51 - rank) (rank 1 gives 50 points, rank 50 gives 1).
with lists as (
    select
        user_id,
        time_range,
        snapshot_date,
        bool_and(popularity is not null) as has_popularity
    from tracks
    group by all
),
albums as (
    select
        user_id,
        time_range,
        snapshot_date,
        album_id,
        min(album_name) as album_name,
        min(album_type) as album_type,
        min(album_artist_names) as album_artist_names,
        count(*) as tracks_in_list,
        list(rank order by rank) as track_ranks,
        sum(popularity) as popularity_score,
        sum(51 - rank) as rank_score,
        min(rank) as best_rank
    from tracks
    where album_id is not null
      and coalesce(lower(album_type), '') <> 'single'
    group by all
    having count(*) >= 2
),
scored as (
    select
        a.*,
        case when l.has_popularity then 'popularity' else 'rank_fallback' end as scoring,
        cast(case when l.has_popularity then a.popularity_score else a.rank_score end as double)
            as score
    from albums as a
    join lists as l using (user_id, time_range, snapshot_date)
)
select
    user_id,
    snapshot_date,
    time_range,
    row_number() over (
        partition by user_id, time_range order by score desc, best_rank, album_id
    ) as rank,
    album_id,
    album_name,
    album_type,
    album_artist_names,
    tracks_in_list,
    track_ranks,
    score,
    scoring
from scored
qualify rank <= (select top_n from params)
order by user_id, time_range, rank
