"""The `users ...` commands, run in-process through their argparse parser.

`users remove` is checked against real files: raw objects from RawStore, Parquet written by the
Lake, an inbox folder and a DuckDB catalog, with a second user whose data must survive. `login`
through the CLI is covered in test_login.py (it needs the emulator).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from spotify_assets.lib import catalog
from spotify_assets.lib.catalog import refresh_catalog
from spotify_assets.lib.lake import Column, Lake, TableSpec
from spotify_assets.lib.polling import new_plan
from spotify_assets.lib.polling.store import PlanStore
from spotify_assets.lib.raw import RawStore
from spotify_assets.lib.settings import Settings, load_settings
from spotify_assets.lib.users import crypto
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets.user_commands import run


@pytest.fixture
def user_settings(tmp_path) -> Settings:
    # token_key=None explicitly: a key in the developer's environment must not leak in.
    return load_settings(data_dir=tmp_path / "data", token_key=None)


@pytest.fixture
def registry(user_settings: Settings) -> UserRegistry:
    return UserRegistry(user_settings)

TOKEN = "AQCcliRefreshToken_9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a"

PLAYS = TableSpec(
    name="plays_test",
    doc="One play per row (test table).",
    columns=[
        Column("user_id", pa.string(), "who played"),
        Column("track_id", pa.string(), "what"),
        Column("ms_played", pa.int64(), "how long"),
    ],
    sort_by=["user_id", "track_id"],
)


def _run(
    capsys: pytest.CaptureFixture[str], settings: Settings, *argv: str
) -> tuple[int, str, str]:
    code = run(argv, settings)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def two_users(registry: UserRegistry) -> UserRegistry:
    registry.enroll("alice", "Alice A.", TOKEN + "a", timezone="Europe/Berlin")
    registry.enroll("bob", "Bob B.", TOKEN + "b")
    return registry


def test_list_empty(capsys: pytest.CaptureFixture[str], user_settings: Settings) -> None:
    code, out, _ = _run(capsys, user_settings, "users", "list")
    assert code == 0 and "no users enrolled" in out and "spotify-assets login" in out


def test_list_shows_users_never_tokens(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry
) -> None:
    from datetime import UTC, datetime

    two_users.opt_in("alice", "wrapped_playlist")
    two_users.record_pull("alice", "recently_played", datetime(2026, 5, 1, 12, 30, tzinfo=UTC))
    two_users.mark_needs_reauth("bob", "invalid_grant: refresh token expired")

    code, out, _ = _run(capsys, two_users.settings, "users", "list")

    assert code == 0
    header, alice, bob = out.splitlines()
    assert header.split()[:6] == ["id", "handle", "name", "timezone", "status", "opt-ins"]
    assert alice.startswith("alice ") and "Alice A." in alice and "Europe/Berlin" in alice
    handles = {u.id: u.handle for u in two_users.list()}
    assert handles["alice"] in alice and handles["alice"] != handles["bob"]
    assert all(h.startswith("l-") and len(h) == 10 for h in handles.values())
    assert "active" in alice and "wrapped_playlist" in alice
    assert "recently_played 2026-05-01 12:30Z" in alice
    assert bob.startswith("bob ") and "needs_reauth: invalid_grant" in bob and "never" in bob
    assert TOKEN not in out

    code, out, _ = _run(capsys, two_users.settings, "users", "list", "--status", "active")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["alice"]


def test_pause_resume_timezone_opt_in_out(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry
) -> None:
    settings = two_users.settings
    assert _run(capsys, settings, "users", "pause", "alice")[:2] == (0, "paused alice\n")
    assert two_users.get("alice").status == "paused"
    assert _run(capsys, settings, "users", "resume", "alice")[0] == 0
    assert two_users.get("alice").status == "active"

    code, out, _ = _run(capsys, settings, "users", "set-timezone", "bob", "Asia/Tokyo")
    assert code == 0 and "Asia/Tokyo" in out
    assert two_users.get("bob").timezone == "Asia/Tokyo"

    assert _run(capsys, settings, "users", "opt-in", "bob", "release_radar_playlist")[0] == 0
    assert two_users.get("bob").opt_ins == {"release_radar_playlist"}
    assert _run(capsys, settings, "users", "opt-out", "bob", "release_radar_playlist")[0] == 0
    assert two_users.get("bob").opt_ins == frozenset()


def test_operator_errors_are_one_clear_line(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry
) -> None:
    settings = two_users.settings
    code, out, err = _run(capsys, settings, "users", "set-timezone", "bob", "Mars/Base")
    assert code == 1 and out == "" and err.startswith("spotify-assets: unknown timezone")
    assert two_users.get("bob").timezone == "UTC"

    code, _, err = _run(capsys, settings, "users", "pause", "nobody")
    assert code == 1 and "no enrolled user 'nobody'" in err

    two_users.mark_needs_reauth("alice", "revoked")
    code, _, err = _run(capsys, settings, "users", "resume", "alice")
    assert code == 1 and "'alice' needs to log in again" in err

    with pytest.raises(SystemExit) as info:  # argparse refuses unknown flags itself
        run(["users", "opt-in", "bob", "spam"], settings)
    assert info.value.code == 2
    assert "invalid choice: 'spam'" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["../../etc", "x'; drop table plays; --", "a/b"])
@pytest.mark.parametrize(
    "argv",
    [
        ("users", "pause"),
        ("users", "resume"),
        ("users", "remove", "--yes"),
        ("users", "set-timezone", "{id}", "UTC"),
        ("users", "opt-in", "{id}", "wrapped_playlist"),
        ("login", "--emulator-user"),
    ],
)
def test_hostile_ids_refused_by_commands(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry, bad: str, argv: tuple[str, ...]
) -> None:
    settings = two_users.settings
    args = [a.replace("{id}", bad) for a in argv] if "{id}" in argv else [*argv, bad]
    before = sorted(p.relative_to(settings.data_dir) for p in settings.data_dir.rglob("*"))
    code, _, err = _run(capsys, settings, *args)
    assert code == 1 and "invalid user id" in err and repr(bad) in err
    after = sorted(p.relative_to(settings.data_dir) for p in settings.data_dir.rglob("*"))
    assert after == before
    assert [u.id for u in two_users.list()] == ["alice", "bob"]


def test_rotate_key_command(capsys: pytest.CaptureFixture[str], two_users: UserRegistry) -> None:
    old = crypto.key_file_path(two_users.settings).read_bytes()
    code, out, _ = _run(capsys, two_users.settings, "users", "rotate-key")
    assert code == 0 and "re-encrypted 2 refresh token(s)" in out
    assert crypto.key_file_path(two_users.settings).read_bytes() != old
    assert UserRegistry(two_users.settings).get_refresh_token("alice") == TOKEN + "a"


def _seed_data(settings: Settings) -> dict[str, int]:
    """Raw objects, lake rows and inbox files for alice and bob; alice's expected counts."""
    raw = RawStore(settings.raw_dir)
    alice_raw = [
        raw.put("recently_played", "alice", b'{"items": [1]}'),
        raw.put("recently_played", "alice", b'{"items": [2]}'),
        raw.put("export", "alice", b'[{"ts": "2026-01-01T00:00:00Z"}]', by_hash=True),
    ]
    raw.put("recently_played", "bob", b'{"items": [3]}')
    lake = Lake(settings.lake_dir)
    lake.write(
        PLAYS,
        [
            {"user_id": "alice", "track_id": "t1", "ms_played": 1000},
            {"user_id": "alice", "track_id": "t2", "ms_played": 2000},
            {"user_id": "bob", "track_id": "t1", "ms_played": 3000},
        ],
        partition="2026-05-01",
    )
    lake.write(PLAYS, [{"user_id": "alice", "track_id": "t3", "ms_played": 1}], "2026-05-02")
    lake.write(PLAYS, [{"user_id": "bob", "track_id": "t4", "ms_played": 1}], "2026-05-03")
    inbox = settings.inbox_dir / "alice"
    (inbox / "done").mkdir(parents=True)
    (inbox / "my_spotify_data.zip").write_bytes(b"PK" + b"x" * 98)
    (inbox / "done" / "old.json").write_bytes(b"[]")
    (settings.inbox_dir / "bob").mkdir()
    (settings.inbox_dir / "bob" / "mine.zip").write_bytes(b"PK")
    refresh_catalog(lake, settings.warehouse_path)
    return {
        "raw_files": len(alice_raw),
        "raw_bytes": sum(ref.path.stat().st_size for ref in alice_raw),
        "lake_rows": 3,
        "lake_files": 2,
        "inbox_files": 2,
        "inbox_bytes": 102,
    }


def test_remove_forgets_the_user_everywhere(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry
) -> None:
    settings = two_users.settings
    expected = _seed_data(settings)
    plans = PlanStore(settings.state_dir)
    for user_id in ("alice", "bob"):
        plans.save(new_plan(user_id, datetime(2026, 5, 3, tzinfo=UTC)))

    code, out, err = _run(capsys, settings, "users", "remove", "alice", "--yes")

    assert code == 0, err
    assert "registry: removed 'alice'" in out
    assert f"raw: {expected['raw_files']} file(s), {expected['raw_bytes']} bytes deleted" in out
    assert f"lake: {expected['lake_rows']} row(s) removed, {expected['lake_files']} file(s)" in out
    assert f"inbox: {expected['inbox_files']} file(s), {expected['inbox_bytes']} bytes" in out
    assert "catalog: refreshed" in out
    assert "poll plan: removed" in out and set(plans.load()) == {"bob"}
    assert [u.id for u in two_users.list()] == ["bob"]
    assert not any(p.name == "alice" for p in settings.raw_dir.rglob("*"))
    assert not (settings.inbox_dir / "alice").exists()
    assert (settings.inbox_dir / "bob" / "mine.zip").exists()
    con = catalog.connect(settings.warehouse_path)
    try:
        rows = con.execute("select user_id, track_id from plays_test order by all").fetchall()
    finally:
        con.close()
    assert rows == [("bob", "t1"), ("bob", "t4")]
    assert sum(1 for _ in RawStore(settings.raw_dir).iter("recently_played", "bob")) == 1
    # Nothing of alice is left in the registry file either.
    con2 = sqlite3.connect(two_users.path)
    try:
        assert con2.execute("select count(*) from users where id = 'alice'").fetchone()[0] == 0
    finally:
        con2.close()

    # Running it again (e.g. after an interruption) is safe and says there was nothing left.
    code, out, _ = _run(capsys, settings, "users", "remove", "alice", "--yes")
    assert code == 0
    assert "'alice' was not enrolled" in out and "raw: 0 file(s), 0 bytes" in out
    assert "lake: 0 row(s) removed" in out


def test_remove_needs_confirmation(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry
) -> None:
    settings = two_users.settings
    RawStore(settings.raw_dir).put("recently_played", "alice", b"{}")
    code, out, err = _run(capsys, settings, "users", "remove", "alice")
    assert code == 1 and "--yes" in err and out == ""
    assert two_users.get("alice") is not None
    assert sum(1 for _ in RawStore(settings.raw_dir).iter("recently_played", "alice")) == 1


def test_cli_registers_these_commands() -> None:
    from spotify_assets.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["users", "opt-out", "alice", "wrapped_playlist"])
    assert (args.user_id, args.flag) == ("alice", "wrapped_playlist")
    args = parser.parse_args(["login", "--emulator-user", "demo_light", "--no-browser"])
    assert args.emulator_user == "demo_light" and args.no_browser


def test_remove_deletes_the_users_wrapped_reports_and_orphaned_ones(
    capsys: pytest.CaptureFixture[str], two_users: UserRegistry
) -> None:
    settings = two_users.settings
    alice, bob = two_users.require("alice").handle, two_users.require("bob").handle
    for handle, body in ((alice, b"<html>alice</html>"), (bob, b"<html>bob</html>"),
                         # left by a removal interrupted after its registry row went
                         ("l-0rphan00", b"<html>gone</html>")):
        (settings.reports_dir / handle).mkdir(parents=True)
        (settings.reports_dir / handle / "2026-02.html").write_bytes(body)
    (settings.reports_dir / alice / "2025.html").write_bytes(b"<html>year</html>")

    code, out, err = _run(capsys, settings, "users", "remove", "alice", "--yes")

    assert code == 0, err
    assert "reports: 3 file(s), 52 bytes deleted" in out
    assert sorted(p.name for p in settings.reports_dir.iterdir()) == [bob]
    assert (settings.reports_dir / bob / "2026-02.html").read_bytes() == b"<html>bob</html>"
