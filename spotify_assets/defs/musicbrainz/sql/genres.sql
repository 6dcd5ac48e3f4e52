-- Genres of Spotify artists and tracks, from the votes MusicBrainz users gave matched artists.
-- Inputs: mb_artists, mb_tags, mb_recordings (lake tables written by the enrichment).
with artist_votes as (
    select a.artist_id, t.kind, t.name as genre, t.count
    from mb_artists as a
    join mb_tags as t
        on t.entity_type = 'artist' and t.mbid = a.artist_mbid
    where a.status = 'matched' and t.count > 0
),
-- Genres are the curated subset of tags; an artist nobody gave a genre keeps its tags.
chosen as (
    select v.*
    from artist_votes as v
    where v.kind = 'genre'
       or not exists (
           select 1 from artist_votes as g where g.artist_id = v.artist_id and g.kind = 'genre'
       )
),
artist_rows as (
    select
        'artist' as entity,
        artist_id as spotify_id,
        genre,
        count,
        row_number() over (partition by artist_id order by count desc, genre) as rank,
        kind,
        artist_id as via_artist_id
    from chosen
),
track_artists as (
    select
        track_id,
        unnest(artist_ids) as artist_id,
        generate_subscripts(artist_ids, 1) as position
    from mb_recordings
    where artist_ids is not null
),
-- Recordings rarely carry genres in MusicBrainz: a track takes those of its first credited
-- artist that has any (the primary artist, unless MusicBrainz knows only the guest).
first_with_genres as (
    select track_id, arg_min(artist_id, position) as artist_id
    from track_artists as ta
    where exists (select 1 from artist_rows as g where g.spotify_id = ta.artist_id)
    group by track_id
)
select entity, spotify_id, genre, count, rank, kind, via_artist_id
from artist_rows
union all
select 'track', f.track_id, g.genre, g.count, g.rank, g.kind, g.via_artist_id
from first_with_genres as f
join artist_rows as g on g.spotify_id = f.artist_id
order by entity, spotify_id, rank
