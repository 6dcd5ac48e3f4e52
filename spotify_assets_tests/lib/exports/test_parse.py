"""parse_export_file on the real samples and on unusual but valid files (bad input:
test_parse_bad_input.py).

Expected values come from the files themselves (read here with the json module) and from the
samples' README (known podcast rows, all-null rows), never from the parser. Both engines
(ijson streaming, DuckDB) run on every real file and must agree row for row.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from spotify_assets.lib.exports import (
    OBSERVATION_SCHEMA,
    ParsedExport,
    PlayObservation,
    parse_export_path,
)
from spotify_assets_tests.lib.exports.samples import (
    ACCOUNT_AUDIOBOOK,
    ACCOUNT_MUSIC,
    ACCOUNT_PODCAST,
    ENDSONG,
    ENGINES,
    EXTENDED_2022,
    EXTENDED_2023,
    PII,
    REAL_FILES,
    load_rows,
    parse_sample,
    write_rows,
)


def _by_row(parsed: ParsedExport) -> dict[int, dict]:
    return {r["file_row"]: r for r in parsed.observations.to_pylist()}


def _utc(text: str, fmt: str) -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


# --- every real file ------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_every_real_row_is_accounted_for_exactly_once(real_file, engine):
    rows = load_rows(real_file)
    parsed = parse_sample(real_file, engine)
    report = parsed.report
    assert parsed.engine == engine
    assert report.format == REAL_FILES[real_file] == str(parsed.format)
    assert report.rows_read == len(rows)
    assert report.file_sha256 == hashlib.sha256(real_file.read_bytes()).hexdigest()
    report.check()
    # The partition holds row by row, not only in the totals.
    kept = parsed.observations.column("file_row").to_pylist()
    dropped = [m.file_row for m in parsed.malformed] + [d.file_row for d in parsed.duplicates]
    assert sorted(kept + dropped) == list(range(len(rows)))
    assert parsed.observations.schema == OBSERVATION_SCHEMA
    assert kept == sorted(kept)  # file order


def test_engines_agree_on_every_real_file(real_file):
    a, b = parse_sample(real_file, "ijson"), parse_sample(real_file, "duckdb")
    assert a.observations.equals(b.observations)
    assert (a.report, a.duplicates, a.malformed) == (b.report, b.duplicates, b.malformed)


def test_extended_rows_map_field_by_field():
    rows = load_rows(EXTENDED_2023)
    got = _by_row(parse_sample(EXTENDED_2023))
    for index, row in enumerate(rows):
        obs = got[index]
        assert obs["ended_at"] == _utc(row["ts"], "%Y-%m-%dT%H:%M:%SZ")
        assert obs["ts_precision"] == "s" and obs["source"] == "export_extended"
        pairs = {
            "ms_played": "ms_played",
            "platform": "platform",
            "conn_country": "conn_country",
            "track_name": "master_metadata_track_name",
            "artist_name": "master_metadata_album_artist_name",
            "album_name": "master_metadata_album_album_name",
            "track_uri": "spotify_track_uri",
            "episode_name": "episode_name",
            "show_name": "episode_show_name",
            "episode_uri": "spotify_episode_uri",
            "reason_start": "reason_start",
            "reason_end": "reason_end",
            "shuffle": "shuffle",
            "skipped": "skipped",
            "offline": "offline",
            "incognito": "incognito_mode",
        }
        assert {c: obs[c] for c in pairs} == {c: row[k] for c, k in pairs.items()}
        uri = row["spotify_track_uri"]
        assert obs["track_id"] == (uri.split(":")[2] if uri else None)
        assert obs["extra"] is None
        assert "ip_addr" not in obs and obs["user_id"] == "alice"


def test_known_podcast_rows_of_the_2023_file_are_episodes():
    rows = load_rows(EXTENDED_2023)
    got = _by_row(parse_sample(EXTENDED_2023))
    episodes = {i for i, r in got.items() if r["content_type"] == "episode"}
    assert episodes == {180, 181, 182, 183, 184, 194, 295}  # per the samples' README
    for i in episodes:
        assert got[i]["episode_uri"] == rows[i]["spotify_episode_uri"]
        assert got[i]["show_name"] == rows[i]["episode_show_name"]
        assert got[i]["track_uri"] is None
    assert all(r["content_type"] == "track" for i, r in got.items() if i not in episodes)


def test_endsong_rows_without_any_content_are_kept_as_unknown():
    parsed = parse_sample(ENDSONG)
    got = _by_row(parsed)
    unknown = {i for i, r in got.items() if r["content_type"] == "unknown"}
    assert unknown == {92, 97, 156, 236, 258}  # per the samples' README
    assert parsed.report.kept_unknown == 5
    assert all(got[i]["ms_played"] is not None for i in unknown)
    assert got[0]["source"] == "export_endsong"


@pytest.mark.parametrize(
    ("path", "content", "columns"),
    [
        (ACCOUNT_MUSIC, "track", {"artist_name": "artistName", "track_name": "trackName"}),
        (ACCOUNT_PODCAST, "episode", {"show_name": "podcastName", "episode_name": "episodeName"}),
        (
            ACCOUNT_AUDIOBOOK,
            "audiobook",
            {"audiobook_title": "audiobookName", "chapter_title": "chapterName"},
        ),
    ],
)
def test_account_data_rows_map_to_their_content_type(path, content, columns):
    rows = load_rows(path)
    parsed = parse_sample(path)
    got = _by_row(parsed)
    assert len(got) + parsed.report.duplicate_in_file == len(rows)
    for index, obs in got.items():
        row = rows[index]
        assert obs["content_type"] == content
        assert obs["source"] == "export_account" and obs["ts_precision"] == "min"
        assert obs["ended_at"] == _utc(row["endTime"], "%Y-%m-%d %H:%M")
        assert obs["ms_played"] == row["msPlayed"]
        assert {c: obs[c] for c in columns} == {c: row[k] for c, k in columns.items()}
        assert obs["track_uri"] is None and obs["platform"] is None


def test_audiobook_author_is_kept_in_extra_without_being_called_unknown():
    rows = load_rows(ACCOUNT_AUDIOBOOK)
    parsed = parse_sample(ACCOUNT_AUDIOBOOK)
    for index, obs in _by_row(parsed).items():
        assert json.loads(obs["extra"]) == {"authorName": rows[index]["authorName"]}
    assert parsed.report.unknown_keys == []


def test_account_data_counts_by_category():
    assert parse_sample(ACCOUNT_PODCAST).report.kept_episodes == len(load_rows(ACCOUNT_PODCAST))
    audiobooks = parse_sample(ACCOUNT_AUDIOBOOK).report.kept_audiobooks
    assert audiobooks == len(load_rows(ACCOUNT_AUDIOBOOK))
    music = parse_sample(ACCOUNT_MUSIC).report
    short = sum(1 for r in load_rows(ACCOUNT_MUSIC) if r["msPlayed"] < 30_000)
    assert (music.kept_tracks, music.under_threshold) == (300, short)


@pytest.mark.parametrize("path", [EXTENDED_2022, EXTENDED_2023, ENDSONG, ACCOUNT_MUSIC])
def test_in_file_duplicates_match_an_independent_grouping(path):
    rows = load_rows(path)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        key = tuple(
            row.get(k)
            for k in (
                "ts", "endTime", "ms_played", "msPlayed", "spotify_track_uri",
                "master_metadata_track_name", "master_metadata_album_artist_name",
                "master_metadata_album_album_name", "spotify_episode_uri", "episode_name",
                "episode_show_name", "artistName", "trackName",
            )
        )  # fmt: skip
        groups[key].append(index)
    expected = {(i, g[0]) for g in groups.values() for i in g[1:]}
    parsed = parse_sample(path)
    assert {(d.file_row, d.first_row) for d in parsed.duplicates} == expected
    assert parsed.report.duplicate_in_file == len(expected)


def test_real_duplicates_exist_in_the_samples():
    # Two real cases: a 0 ms play logged twice, and two 23 ms plays ending the same second.
    assert [(d.file_row, d.first_row) for d in parse_sample(EXTENDED_2022).duplicates] == [(31, 30)]
    assert [(d.file_row, d.first_row) for d in parse_sample(ENDSONG).duplicates] == [(288, 191)]


# --- offline_timestamp ----------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXTENDED_2022, EXTENDED_2023, ENDSONG])
def test_offline_timestamps_land_near_the_play_in_both_units(path):
    # Seconds (current files) and milliseconds (endsong) both give an instant within a day of
    # `ts`; reading either unit as the other would be off by decades.
    got = _by_row(parse_sample(path)).values()
    with_offline = [r for r in got if r["offline_at"] is not None]
    assert len(with_offline) >= 0.9 * len(got)
    for r in with_offline:
        assert abs(r["ended_at"] - r["offline_at"]) < timedelta(days=1)


def test_legacy_milliseconds_and_current_seconds_give_the_same_instant(tmp_path):
    legacy = load_rows(ENDSONG)[0]
    current = {k: v for k, v in load_rows(EXTENDED_2023)[0].items()}
    current["offline_timestamp"] = legacy["offline_timestamp"] // 1000
    ms_obs = _by_row(parse_sample(write_rows(tmp_path / "endsong_0.json", [legacy])))[0]
    current_file = write_rows(tmp_path / "Streaming_History_Audio_1.json", [current])
    s_obs = _by_row(parse_sample(current_file))[0]
    expected = datetime.fromtimestamp(legacy["offline_timestamp"] / 1000, UTC)
    assert ms_obs["offline_at"] == expected
    assert s_obs["offline_at"] == expected.replace(microsecond=0)


@pytest.mark.parametrize(("value", "expected_null"), [(0, True), (99, True), (100, False)])
def test_bogus_tiny_offline_timestamps_become_null(tmp_path, value, expected_null):
    row = {**load_rows(EXTENDED_2023)[0], "offline_timestamp": value}
    obs = _by_row(parse_sample(write_rows(tmp_path / "a.json", [row])))[0]
    assert (obs["offline_at"] is None) is expected_null


# --- unusual but valid content --------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_unknown_extra_keys_are_kept_in_extra_and_listed(tmp_path, engine):
    rows = load_rows(EXTENDED_2023)[:5]
    rows[1]["new_field"] = {"nested": [1, 2.5, None]}
    rows[1]["also_new"] = "x"
    rows[3]["also_new"] = "é"
    parsed = parse_sample(write_rows(tmp_path / "a.json", rows), engine)
    got = _by_row(parsed)
    assert json.loads(got[1]["extra"]) == {"new_field": {"nested": [1, 2.5, None]}, "also_new": "x"}
    assert json.loads(got[3]["extra"]) == {"also_new": "é"}
    assert got[0]["extra"] is None and got[2]["extra"] is None
    assert parsed.report.unknown_keys == ["also_new", "new_field"]
    assert parsed.report.kept == 5


def test_local_files_have_no_track_id(tmp_path):
    row = {**load_rows(EXTENDED_2023)[0], "spotify_track_uri": "spotify:local:A:B:Song:215"}
    obs = _by_row(parse_sample(write_rows(tmp_path / "a.json", [row])))[0]
    assert (obs["content_type"], obs["track_id"]) == ("track", None)
    assert obs["track_uri"] == "spotify:local:A:B:Song:215"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_empty_array_is_a_file_with_no_rows(tmp_path, engine):
    parsed = parse_sample(write_rows(tmp_path / "Streaming_History_Audio_2024.json", []), engine)
    assert (parsed.report.rows_read, parsed.observations.num_rows) == (0, 0)
    assert str(parsed.format) == "empty"
    assert parsed.observations.schema == OBSERVATION_SCHEMA


def test_a_byte_order_mark_is_tolerated(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + EXTENDED_2022.read_bytes())
    for engine in ENGINES:
        parsed = parse_sample(path, engine)
        assert parsed.engine == engine
        assert parsed.report.rows_read == len(load_rows(EXTENDED_2022))


def test_gzip_from_the_raw_landing_zone_parses_like_the_original(tmp_path):
    gz = tmp_path / "0123abcd.json.gz"
    gz.write_bytes(gzip.compress(ENDSONG.read_bytes()))
    for engine in ENGINES:
        again = parse_export_path("alice", gz, name="endsong_0.json", engine=engine)
        assert again.observations.equals(parse_sample(ENDSONG).observations)


def test_video_files_keep_their_rows_as_video(tmp_path):
    rows = load_rows(EXTENDED_2023)[178:186]  # tracks and podcast rows
    parsed = parse_sample(write_rows(tmp_path / "Streaming_History_Video_2023.json", rows))
    assert parsed.report.kept_video == len(rows)
    assert set(parsed.observations.column("content_type").to_pylist()) == {"video"}


def test_observations_table_is_a_valid_arrow_table_for_the_lake():
    table = parse_sample(EXTENDED_2023).observations
    assert isinstance(table, pa.Table)
    not_null = [f.name for f in OBSERVATION_SCHEMA if not f.nullable]
    assert all(table.column(name).null_count == 0 for name in not_null)
    assert list(PlayObservation.__annotations__) == OBSERVATION_SCHEMA.names


@pytest.mark.parametrize(
    ("real", "lying_name", "expected"),
    [
        (ENDSONG, "StreamingHistory_music_0.json", "endsong"),
        (ACCOUNT_PODCAST, "Streaming_History_Audio_2023.json", "account_podcast"),
        (EXTENDED_2022, "endsong_3.json", "extended"),
    ],
)
def test_a_renamed_real_file_is_parsed_by_its_content(tmp_path, real, lying_name, expected):
    renamed = tmp_path / lying_name
    renamed.write_bytes(real.read_bytes())
    parsed = parse_sample(renamed)
    assert parsed.report.format == expected
    assert parsed.observations.equals(parse_sample(real).observations)


def test_pii_is_never_kept_not_even_in_rows_set_aside(tmp_path):
    rows = load_rows(ENDSONG)[:3]
    rows[1]["ms_played"] = "broken"
    account = [{**load_rows(ACCOUNT_MUSIC)[0], "username": "someone", "ip_addr": "192.0.2.9"}]
    parsed = parse_sample(write_rows(tmp_path / "endsong_0.json", rows))
    (malformed,) = parsed.malformed
    kept = json.loads(malformed.raw_json)
    assert kept == {k: v for k, v in rows[1].items() if k not in PII}
    assert not PII & set(parsed.observations.column_names)
    music = parse_sample(write_rows(tmp_path / "StreamingHistory_music_0.json", account))
    assert music.report.unknown_keys == [] and music.observations.column("extra")[0].as_py() is None
