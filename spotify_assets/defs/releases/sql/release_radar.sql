-- One week's release radar: each user's releases of the week by the artists on their radar.
-- Inputs: `radar_artists` (user_id, artist_id, artist_name, via: follow | top_played),
-- `releases` (artist_releases rows whose radar_week is the week).
-- A release is listed once per user however many of their artists it credits (a collaboration
-- of two followed artists is one row with both); an artist both followed and top played counts
-- as followed.
with artists as (
    select user_id, artist_id, min(artist_name) as artist_name, min(via) as via
    from radar_artists
    group by all
),
matched as (
    select
        a.user_id,
        r.album_id,
        a.artist_id,
        coalesce(a.artist_name, a.artist_id) as artist_name,
        a.via,
        r.album_group,
        r.album_name,
        r.album_type,
        r.release_date,
        r.release_date_precision,
        r.total_tracks,
        r.url,
        r.album_artist_names,
        r.radar_week
    from artists a
    join releases r on r.artist_id = a.artist_id
)
select
    any_value(radar_week) as week,
    user_id,
    album_id,
    any_value(album_name) as album_name,
    any_value(album_type) as album_type,
    list(distinct album_group order by album_group) as album_groups,
    any_value(release_date) as release_date,
    any_value(release_date_precision) as release_date_precision,
    any_value(total_tracks) as total_tracks,
    any_value(url) as url,
    any_value(album_artist_names) as album_artist_names,
    list(artist_id order by artist_id) as matched_artist_ids,
    list(artist_name order by artist_id) as matched_artist_names,
    list(via order by artist_id) as matched_via
from matched
group by user_id, album_id
order by user_id, release_date, album_id
