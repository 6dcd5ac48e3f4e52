-- What all of history tells about names, once per run (one table, three kinds of row):
--   artist_first (user_id, key = primary artist, first_day): the first local day the user ever
--     played the artist, for "artists heard for the first time ever";
--   artist_id (key = primary artist, id): the Spotify id any play showed for that name;
--   album_id (key = primary artist<TAB>album, id): the same for an album.
-- Export rows carry names only, polled rows ids too: grouping by normalised name lets both
-- count together, as tops_from_plays does.
-- Inputs: view `plays` (every plays file), `timezones` (user_id, tz), `params` (default_tz).
with p as (
    select
        p.user_id,
        split_part(p.track_key, chr(9), 1) as artist_key,
        split_part(p.track_key, chr(9), 1) || chr(9)
            || lower(regexp_replace(trim(nfc_normalize(p.album_name)), '\s+', ' ', 'g'))
            as album_key,
        p.artist_ids,
        p.album_id,
        p.album_name,
        cast(timezone(coalesce(t.tz, (select default_tz from params)), p.started_at) as date)
            as local_date
    from plays as p
    left join timezones as t using (user_id)
)
select
    'artist_first' as kind,
    user_id,
    artist_key as key,
    cast(null as varchar) as id,
    min(local_date) as first_day
from p
where artist_key <> ''
group by user_id, artist_key
union all
select 'artist_id', null, artist_key, min(artist_ids[1]), null
from p
where len(artist_ids) > 0 and artist_key <> ''
group by artist_key
union all
select 'album_id', null, album_key, min(album_id), null
from p
where album_id is not null and album_name is not null
group by album_key
