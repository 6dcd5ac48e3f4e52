-- Each imported file: its categories against rows_read, and its rows in the lake against the
-- report (kept = rows in exported_plays, malformed = rows in import_rejects).
with exported as (
    select user_id, file_sha256, count(*) as n from exported_plays group by all
),
rejected as (
    select user_id, file_sha256, count(*) as n from import_rejects group by all
)
select
    r.user_id,
    r.file_sha256,
    r.rows_read,
    r.kept_tracks + r.kept_episodes + r.kept_audiobooks + r.kept_video + r.kept_unknown
        + r.duplicate_in_file + r.malformed as categorised,
    r.kept_tracks + r.kept_episodes + r.kept_audiobooks + r.kept_video + r.kept_unknown
        as kept,
    coalesce(e.n, 0) as exported_rows,
    r.malformed,
    coalesce(j.n, 0) as rejected_rows
from import_reports as r
left join exported as e using (user_id, file_sha256)
left join rejected as j using (user_id, file_sha256)
order by r.user_id, r.file_sha256
