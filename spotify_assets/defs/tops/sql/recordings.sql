-- The recording every Spotify track id and every name key of `plays` is of: tops count
-- recordings, not track ids. A song released on a single and on its album has two track ids
-- and one ISRC; counted by id it would be split in two (your_spotify #465). The rule, from what
-- the lake already knows (no request is made for it):
--   1. the track id's own ISRC, from any row that carries one: a polled play, a top-list
--      snapshot, or the MusicBrainz enrichment's record of the track (exports carry no ISRC);
--   2. else the ISRC another track id of the same MusicBrainz recording carries;
--   3. else the ISRC of the same normalised artist + title, when the lake knows exactly one;
--   4. else the MusicBrainz recording id (the track's, else the one of the same normalised
--      artist + title when there is exactly one);
--   5. else the normalised artist + title itself (`track_key`).
-- Rows without a track id (account-data exports) take steps 3 to 5 by their `track_key`.
-- Two ISRCs are two recordings (a remaster has its own), even when MusicBrainz lists both on
-- one recording: ISRC comes first. Keys: 'isrc:<ISRC>', 'mbid:<MBID>', 'name:<track_key>'.
-- Inputs: views `plays` (track_id, track_key, isrc), `top_tracks` (track_id, isrc),
-- `mb_recordings` (track_id, recording_mbid, status, isrc).
-- Output: (track_id, track_key, recording_key); name-key rows have a null track_id.
with observed as (
    select track_id, track_key, upper(trim(isrc)) as isrc from plays
    union all
    select track_id, null, upper(trim(isrc)) from top_tracks
    union all
    select track_id, null, upper(trim(isrc)) from mb_recordings
),
tracks as (
    select
        o.track_id,
        min(o.track_key) as track_key,
        min(nullif(o.isrc, '')) as isrc
    from observed as o
    where o.track_id is not null
    group by o.track_id
),
matched as (
    select track_id, min(recording_mbid) as mbid
    from mb_recordings
    where status = 'matched' and recording_mbid is not null
    group by track_id
),
known as (
    select t.track_id, t.track_key, t.isrc, m.mbid
    from tracks as t
    left join matched as m using (track_id)
),
isrc_of_mbid as (
    select mbid, min(isrc) as isrc
    from known
    where mbid is not null and isrc is not null
    group by mbid
),
isrc_of_name as (
    select track_key, min(isrc) as isrc
    from known
    where track_key is not null and isrc is not null
    group by track_key
    having count(distinct isrc) = 1
),
mbid_of_name as (
    select track_key, min(mbid) as mbid
    from known
    where track_key is not null and mbid is not null
    group by track_key
    having count(distinct mbid) = 1
),
names as (
    select distinct track_key from plays where track_id is null and track_key is not null
)
select
    k.track_id,
    k.track_key,
    case
        when coalesce(k.isrc, im.isrc, iname.isrc) is not null
            then 'isrc:' || coalesce(k.isrc, im.isrc, iname.isrc)
        when coalesce(k.mbid, mname.mbid) is not null
            then 'mbid:' || coalesce(k.mbid, mname.mbid)
        else 'name:' || coalesce(k.track_key, 'id:' || k.track_id)
    end as recording_key
from known as k
left join isrc_of_mbid as im on im.mbid = k.mbid
left join isrc_of_name as iname on iname.track_key = k.track_key
left join mbid_of_name as mname on mname.track_key = k.track_key
union all
select
    null,
    n.track_key,
    case
        when iname.isrc is not null then 'isrc:' || iname.isrc
        when mname.mbid is not null then 'mbid:' || mname.mbid
        else 'name:' || n.track_key
    end
from names as n
left join isrc_of_name as iname using (track_key)
left join mbid_of_name as mname using (track_key)
order by recording_key, track_id nulls last, track_key
