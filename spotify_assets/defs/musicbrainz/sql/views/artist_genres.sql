-- One row per genre of a Spotify artist (MusicBrainz genres, or its tags when it has none),
-- ranked by votes: what tops_from_plays and the wrapped tables group plays by.
select
    spotify_id as artist_id,
    genre,
    count,
    rank
from musicbrainz.genres
where entity = 'artist'
