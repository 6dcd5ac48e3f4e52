-- One row per play (every column of listening.plays) with the ids an analyst joins on, wherever
-- they can be known: Spotify track, artist and album ids and ISRC (the play's own, else its
-- listening.spotify_tracks row: by track id, or by name for plays without one), MusicBrainz
-- recording, release and artist ids (musicbrainz.mb_*), and the genres of the primary artist
-- (musicbrainz.artist_genres, as tops and wrapped count them). A play whose name matched several
-- tracks keeps a null track_id but the artist ids and ISRC they all share. Minutes by genre:
-- select g.name as genre, sum(listened_ms) / 60000 as minutes from listening.plays_enriched,
-- unnest(genres) as g(name) group by all order by minutes desc
-- column track_key: the play's normalised artist and title, tab-separated (groups plays without an id)
-- column track_name: the play's track title
-- column track_id: Spotify track id: the play's, else the one track a search of its title and artist found (null: unknown or ambiguous)
-- column artist_ids: credited Spotify artist ids, primary first (null: not known)
-- column artist_names: their names, same order (null: only the play's artist_name is known)
-- column album_id: Spotify album id
-- column isrc: ISRC of the recording (null when no source carried it)
-- column resolved_by: where the ids come from: play (the play itself, polled), or spotify_tracks.resolved_by (poll, top, album, lookup, album_lookup, search, ambiguous, unresolved, not_found, pending); null: no spotify_tracks row yet
-- column recording_mbid: MusicBrainz recording of the track (by track id, else by its ISRC when that names one recording)
-- column release_mbid: MusicBrainz release of the album
-- column release_group_mbid: its release group
-- column artist_mbids: MusicBrainz artist ids aligned with artist_ids (null where an artist is not matched)
-- column genres: MusicBrainz genres (or tags) of the primary artist, most voted first
-- column genre: the primary artist's most voted genre
with resolved as (
    select
        p.* exclude (track_id, artist_ids, album_id, isrc),
        coalesce(p.track_id, n.track_id) as track_id,
        case
            when len(p.artist_ids) > 0 then p.artist_ids else coalesce(i.artist_ids, n.artist_ids)
        end as artist_ids,
        case
            when len(p.artist_ids) > 0 and i.artist_ids = p.artist_ids then i.artist_names
            when len(p.artist_ids) > 0 then null
            else coalesce(i.artist_names, n.artist_names)
        end as artist_names,
        coalesce(p.album_id, i.album_id, n.album_id) as album_id,
        upper(coalesce(p.isrc, i.isrc, n.isrc)) as isrc,
        case
            when len(p.artist_ids) > 0 then 'play' else coalesce(i.resolved_by, n.resolved_by)
        end as resolved_by
    from listening.plays as p
    left join listening.spotify_tracks as i
        on i.ref_kind = 'id' and i.track_id = p.track_id
    left join listening.spotify_tracks as n
        on p.track_id is null and n.ref_kind = 'name' and n.track_key = p.track_key
),
recording_of_track as (
    select track_id, min(recording_mbid) as recording_mbid
    from musicbrainz.mb_recordings
    where status = 'matched'
    group by track_id
),
recording_of_isrc as (
    select upper(isrc) as isrc, min(recording_mbid) as recording_mbid
    from musicbrainz.mb_recordings
    where status = 'matched' and isrc is not null
    group by upper(isrc)
    having count(distinct recording_mbid) = 1
),
release_of_album as (
    select album_id, min(release_mbid) as release_mbid, min(release_group_mbid) as release_group_mbid
    from musicbrainz.mb_releases
    where status = 'matched'
    group by album_id
),
credits as (
    select distinct artist_ids from resolved where artist_ids is not null
),
credit_mbids as (
    select c.artist_ids, list(a.artist_mbid order by c.position) as artist_mbids
    from (
        select
            artist_ids,
            unnest(artist_ids) as artist_id,
            generate_subscripts(artist_ids, 1) as position
        from credits
    ) as c
    left join musicbrainz.mb_artists as a
        on a.artist_id = c.artist_id and a.status = 'matched'
    group by c.artist_ids
),
artist_genre_lists as (
    select artist_id, list(genre order by rank) as genres
    from musicbrainz.artist_genres
    group by artist_id
)
select
    r.*,
    coalesce(rt.recording_mbid, ri.recording_mbid) as recording_mbid,
    ra.release_mbid,
    ra.release_group_mbid,
    cm.artist_mbids,
    g.genres,
    g.genres[1] as genre
from resolved as r
left join recording_of_track as rt on rt.track_id = r.track_id
left join recording_of_isrc as ri on ri.isrc = r.isrc
left join release_of_album as ra on ra.album_id = r.album_id
left join credit_mbids as cm on cm.artist_ids = r.artist_ids
left join artist_genre_lists as g on g.artist_id = r.artist_ids[1]
