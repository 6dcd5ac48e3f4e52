-- One row per play (>= 30 s) started in [first_day, end_day) of the user's local calendar,
-- with what the wrapped groups it by. A play counts on the local day it started, like
-- daily_listening.
-- Inputs: view `plays` (the UTC days first_day - 1 .. end_day + 1), `timezones` (user_id, tz),
-- `params` (first_day, end_day, default_tz), `recordings` (track_id, track_key,
-- recording_key: defs/tops/sql/recordings.sql), `known` (sql/known.sql). An artist or album
-- gets the Spotify id any play showed for its name (`known`), so export rows get it too.
with local_plays as (
    select
        p.*,
        coalesce(t.tz, (select default_tz from params)) as tz,
        timezone(coalesce(t.tz, (select default_tz from params)), p.started_at) as local_start,
        coalesce(r_id.recording_key, r_name.recording_key, 'name:' || p.track_key)
            as recording_key,
        split_part(p.track_key, chr(9), 1) as artist_key,
        split_part(p.track_key, chr(9), 1) || chr(9)
            || lower(regexp_replace(trim(nfc_normalize(p.album_name)), '\s+', ' ', 'g'))
            as album_key
    from plays as p
    left join timezones as t using (user_id)
    left join recordings as r_id on r_id.track_id = p.track_id
    left join recordings as r_name
        on p.track_id is null and r_name.track_id is null and r_name.track_key = p.track_key
)
select
    lp.user_id,
    lp.tz,
    cast(lp.local_start as date) as local_date,
    cast(hour(lp.local_start) as integer) as local_hour,
    lp.started_at,
    lp.ended_at,
    lp.listened_ms,
    coalesce(lp.listened_ms_estimated, false) as listened_ms_estimated,
    lp.recording_key,
    lp.track_id,
    lp.track_key,
    lp.track_name,
    lp.artist_name,
    lp.artist_key,
    ai.id as artist_id,
    lp.album_key,
    al.id as album_id,
    lp.album_name,
    lp.skipped,
    lp.shuffle,
    af.first_day as artist_first_day
from local_plays as lp
left join known as ai on ai.kind = 'artist_id' and ai.key = lp.artist_key
left join known as al on al.kind = 'album_id' and al.key = lp.album_key
left join known as af
    on af.kind = 'artist_first' and af.user_id = lp.user_id and af.key = lp.artist_key
where cast(lp.local_start as date) >= (select first_day from params)
  and cast(lp.local_start as date) < (select end_day from params)
