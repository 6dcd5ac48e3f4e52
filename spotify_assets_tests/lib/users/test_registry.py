"""The user registry: enrollment, settings, pull state, the TokenStore protocol, safety.

Covers: no plaintext (or base64/hex) token in the SQLite files, hostile ids refused by every
method before any SQL or path, two processes writing at once, opt-ins, timezones and the
needs_reauth flow. Encryption details are in test_crypto.py.
"""

from __future__ import annotations

import base64
import multiprocessing
import pickle
import sqlite3
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from spotify_assets.lib.ids import InvalidIdError
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify.errors import ReauthorizationRequired
from spotify_assets.lib.users.registry import (
    OPT_IN_FLAGS,
    TokenUnavailableError,
    UnknownUserError,
    UserRegistry,
)

TOKEN = "AQBknownRefreshToken_4f9a2c7e1b8d3f6a0c5e9b2d7f4a1c8e3b6d0f5a2c9e"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

HOSTILE_IDS = [
    "../../etc",
    "x'; drop table plays; --",
    "alice/../bob",
    "/abs",
    ".hidden",
    "a b",
    "",
    "alice\n",
    "al\x00ice",
    "x" * 129,
]


def _state_bytes(settings: Settings) -> bytes:
    """Every stored byte under state/; the -shm index is shared memory, not stored data."""
    return b"".join(
        p.read_bytes()
        for p in sorted(settings.state_dir.iterdir())
        if p.is_file() and not p.name.endswith("-shm")
    )


def _tree(settings: Settings) -> list[str]:
    return sorted(str(p.relative_to(settings.data_dir)) for p in settings.data_dir.rglob("*"))


def _enroll(registry: UserRegistry, user_id: str = "alice", **kwargs: object) -> None:
    registry.enroll(user_id, user_id.title(), TOKEN + user_id, **kwargs)  # type: ignore[arg-type]


# -- enrollment --------------------------------------------------------------------------------


def test_enroll_then_get(registry: UserRegistry) -> None:
    before = datetime.now(UTC)
    user = registry.enroll("alice", "Alice A.", TOKEN, authorized_at=T0)
    after = datetime.now(UTC)
    assert user.id == "alice" and user.display_name == "Alice A."
    assert user.status == "active" and user.reauth_reason is None
    assert user.timezone == "UTC"  # settings.default_timezone
    assert user.opt_ins == frozenset() and user.last_pull == {}
    assert user.token_authorized_at == T0
    assert before <= user.enrolled_at <= after  # stamped when enrolled
    assert registry.get("alice") == user
    assert registry.get_refresh_token("alice") == TOKEN


def test_reenroll_renews_token_keeps_settings(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN, timezone="Asia/Tokyo", authorized_at=T0)
    registry.opt_in("alice", "wrapped_playlist")
    registry.mark_needs_reauth("alice", "invalid_grant: refresh token expired")
    first = registry.get("alice")
    later = T0 + timedelta(days=200)

    user = registry.enroll("alice", "Alice Renamed", TOKEN + "-new", authorized_at=later)

    assert user.status == "active" and user.reauth_reason is None
    assert user.display_name == "Alice Renamed"
    assert user.timezone == "Asia/Tokyo" and user.opt_ins == {"wrapped_playlist"}
    assert user.enrolled_at == first.enrolled_at and user.token_authorized_at == later
    assert registry.get_refresh_token("alice") == TOKEN + "-new"


def test_list_and_status_filter(registry: UserRegistry) -> None:
    for user_id in ("carol", "alice", "bob"):
        _enroll(registry, user_id)
    registry.pause("bob")
    registry.mark_needs_reauth("carol", "revoked")
    assert [u.id for u in registry.list()] == ["alice", "bob", "carol"]
    assert [u.id for u in registry.list("paused")] == ["bob"]
    assert [u.id for u in registry.list(status="needs_reauth")] == ["carol"]
    assert [u.id for u in registry.active_users()] == ["alice"]
    with pytest.raises(ValueError, match="unknown status 'gone'"):
        registry.list("gone")  # type: ignore[arg-type]


def test_unknown_user_is_named(registry: UserRegistry) -> None:
    assert registry.get("nobody") is None
    with pytest.raises(UnknownUserError, match=r"no enrolled user 'nobody' in .*users\.sqlite3"):
        registry.require("nobody")
    for call in (
        lambda: registry.pause("nobody"),
        lambda: registry.get_refresh_token("nobody"),
        lambda: registry.save_refresh_token("nobody", TOKEN),
        lambda: registry.mark_needs_reauth("nobody", "x"),
        lambda: registry.record_pull("nobody", "recently_played", T0),
        lambda: registry.opt_in("nobody", "wrapped_playlist"),
    ):
        with pytest.raises(UnknownUserError, match="'nobody'"):
            call()
    assert registry.remove("nobody") is False


def test_remove_deletes_user_and_pull_state(registry: UserRegistry) -> None:
    _enroll(registry, "alice")
    _enroll(registry, "bob")
    registry.record_pull("alice", "recently_played", T0, cursor="1714564800000")
    assert registry.remove("alice") is True
    assert [u.id for u in registry.list()] == ["bob"]
    con = sqlite3.connect(registry.path)
    try:
        assert con.execute("select count(*) from pulls").fetchone()[0] == 0
    finally:
        con.close()
    assert registry.get("alice") is None


# -- secrets -----------------------------------------------------------------------------------


def test_store_files_never_hold_the_token_in_clear(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    registry.save_refresh_token("alice", TOKEN)  # a rotation writes it again
    registry.mark_needs_reauth("alice", f"invalid_grant for {TOKEN}")  # even if echoed
    registry.enroll("alice", "Alice", TOKEN)
    data = _state_bytes(registry.settings)
    assert len(data) > 4096  # the database (and its WAL) really were read
    token = TOKEN.encode()
    encodings = [
        token,
        base64.b64encode(token),
        base64.urlsafe_b64encode(token),
        base64.b64encode(token).rstrip(b"="),
        token.hex().encode(),
        TOKEN.encode("utf-16-le"),
    ]
    # Base64 of a string shifted by 1 or 2 bytes encodes differently: check every alignment.
    for shift in (1, 2):
        encodings.append(base64.b64encode(b"x" * shift + token)[4:-4])
    for encoded in encodings:
        assert encoded not in data, encoded[:12]
    # A distinctive 16-character slice is absent too (no partial leak).
    assert token[10:26] not in data


def test_reauth_reason_never_carries_the_token(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    registry.mark_needs_reauth("alice", f"refresh with {TOKEN} answered invalid_grant")
    user = registry.get("alice")
    assert TOKEN not in (user.reauth_reason or "")
    assert "invalid_grant" in (user.reauth_reason or "")


def test_reprs_never_show_tokens(registry: UserRegistry) -> None:
    user = registry.enroll("alice", "Alice", TOKEN)
    for text in (repr(user), str(user), repr(registry), str(registry.list())):
        assert TOKEN not in text


def test_store_file_is_private(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    for path in registry.settings.state_dir.iterdir():
        if path.name.startswith("users.sqlite3"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_wal_mode(registry: UserRegistry) -> None:
    con = sqlite3.connect(registry.path)
    try:
        assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()


# -- hostile ids -------------------------------------------------------------------------------

METHODS = {
    "enroll": lambda r, uid: r.enroll(uid, "Name", TOKEN),
    "get": lambda r, uid: r.get(uid),
    "require": lambda r, uid: r.require(uid),
    "pause": lambda r, uid: r.pause(uid),
    "resume": lambda r, uid: r.resume(uid),
    "remove": lambda r, uid: r.remove(uid),
    "set_timezone": lambda r, uid: r.set_timezone(uid, "UTC"),
    "opt_in": lambda r, uid: r.opt_in(uid, "wrapped_playlist"),
    "opt_out": lambda r, uid: r.opt_out(uid, "wrapped_playlist"),
    "record_pull": lambda r, uid: r.record_pull(uid, "recently_played", T0),
    "pull_state": lambda r, uid: r.pull_state(uid, "recently_played"),
    "get_refresh_token": lambda r, uid: r.get_refresh_token(uid),
    "save_refresh_token": lambda r, uid: r.save_refresh_token(uid, TOKEN),
    "mark_needs_reauth": lambda r, uid: r.mark_needs_reauth(uid, "x"),
}


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("bad_id", HOSTILE_IDS, ids=repr)
def test_hostile_ids_refused_everywhere(registry: UserRegistry, method: str, bad_id: str) -> None:
    _enroll(registry, "alice")
    before, tree = _state_bytes(registry.settings), _tree(registry.settings)
    with pytest.raises(InvalidIdError, match="invalid user id") as info:
        METHODS[method](registry, bad_id)
    assert repr(bad_id) in str(info.value)  # says which id was refused
    assert TOKEN not in str(info.value)
    # Nothing was written and nothing was created beside the store.
    assert _state_bytes(registry.settings) == before
    assert _tree(registry.settings) == tree
    assert [u.id for u in registry.list()] == ["alice"]


def test_quote_in_display_name_is_data_not_sql(registry: UserRegistry) -> None:
    name = "x'); drop table users; --"
    registry.enroll("alice", name, TOKEN)
    assert registry.get("alice").display_name == name


# -- concurrency -------------------------------------------------------------------------------


def _worker(data_dir: str, prefix: str, count: int, queue: multiprocessing.Queue) -> None:
    from spotify_assets.lib.settings import load_settings

    try:
        registry = UserRegistry(load_settings(data_dir=Path(data_dir), token_key=None))
        for i in range(count):
            user_id = f"{prefix}{i}"
            registry.enroll(user_id, user_id, f"{TOKEN}-{user_id}")
            registry.record_pull(user_id, "recently_played", T0 + timedelta(minutes=i), str(i))
            registry.opt_in(user_id, "wrapped_playlist")
            registry.save_refresh_token(user_id, f"{TOKEN}-{user_id}-2")
            registry.list()
        queue.put(None)
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


def test_two_processes_write_at_once(user_settings: Settings) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    count = 25
    procs = [
        ctx.Process(target=_worker, args=(str(user_settings.data_dir), p, count, queue))
        for p in ("a", "b")
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert results == [None, None]
    registry = UserRegistry(user_settings)
    users = registry.list()
    assert len(users) == 2 * count
    for user in users:
        assert user.opt_ins == {"wrapped_playlist"}
        assert registry.get_refresh_token(user.id) == f"{TOKEN}-{user.id}-2"
        assert registry.pull_state(user.id, "recently_played")[1] == user.id[1:]


# -- settings ----------------------------------------------------------------------------------


def test_opt_in_flags(registry: UserRegistry) -> None:
    _enroll(registry, "alice")
    _enroll(registry, "bob")
    registry.opt_in("alice", "wrapped_playlist")
    registry.opt_in("alice", "wrapped_playlist")  # idempotent
    registry.opt_in("alice", "release_radar_playlist")
    assert registry.get("alice").opt_ins == OPT_IN_FLAGS
    assert registry.get("bob").opt_ins == frozenset()
    registry.opt_out("alice", "wrapped_playlist")
    registry.opt_out("bob", "wrapped_playlist")  # not opted in: no error
    assert registry.get("alice").opt_ins == {"release_radar_playlist"}
    with pytest.raises(ValueError, match=r"unknown opt-in 'spam'.*release_radar_playlist"):
        registry.opt_in("alice", "spam")
    assert registry.get("alice").opt_ins == {"release_radar_playlist"}


def test_timezone_validation(registry: UserRegistry) -> None:
    _enroll(registry, "alice")
    registry.set_timezone("alice", "Asia/Tokyo")
    assert registry.get("alice").timezone == "Asia/Tokyo"
    for bad in ("Mars/Olympus", "../../etc/passwd", "/etc/localtime", "", "utc\n", "+09:00"):
        with pytest.raises(ValueError, match="unknown timezone"):
            registry.set_timezone("alice", bad)
    with pytest.raises(ValueError, match="unknown timezone 'Nowhere'"):
        registry.enroll("bob", "Bob", TOKEN, timezone="Nowhere")
    assert registry.get("alice").timezone == "Asia/Tokyo"
    assert [u.id for u in registry.list()] == ["alice"]


def test_pull_state(registry: UserRegistry) -> None:
    _enroll(registry, "alice")
    assert registry.pull_state("alice", "recently_played") == (None, None)
    tokyo = timezone(timedelta(hours=9))
    registry.record_pull("alice", "recently_played", T0.astimezone(tokyo), cursor="1714564800000")
    registry.record_pull("alice", "top_items", T0 + timedelta(hours=1))
    at, cursor = registry.pull_state("alice", "recently_played")
    assert at == T0 and at.utcoffset() == timedelta(0) and cursor == "1714564800000"
    assert registry.get("alice").last_pull == {
        "recently_played": T0,
        "top_items": T0 + timedelta(hours=1),
    }
    registry.record_pull("alice", "recently_played", T0 + timedelta(minutes=30))
    assert registry.pull_state("alice", "recently_played") == (T0 + timedelta(minutes=30), None)
    with pytest.raises(ValueError, match="timezone-aware"):
        registry.record_pull("alice", "recently_played", datetime(2026, 5, 1))
    with pytest.raises(ValueError, match="invalid pull source"):
        registry.record_pull("alice", "../x", T0)


# -- needs_reauth / pause ----------------------------------------------------------------------


def test_needs_reauth_flow(registry: UserRegistry) -> None:
    _enroll(registry, "alice")
    _enroll(registry, "bob")
    registry.mark_needs_reauth("alice", "invalid_grant: Refresh token revoked")

    with pytest.raises(TokenUnavailableError) as info:
        registry.get_refresh_token("alice")
    message = str(info.value)
    assert "'alice'" in message and "Refresh token revoked" in message and "login" in message
    assert TOKEN not in message
    assert info.value.user_status == "needs_reauth"
    assert isinstance(info.value, ReauthorizationRequired)  # a pull loop parks the user
    assert pickle.loads(pickle.dumps(info.value)).args == info.value.args
    user = registry.get("alice")
    assert user.status == "needs_reauth" and user.reauth_reason.endswith("revoked")
    assert [u.id for u in registry.active_users()] == ["bob"]
    assert registry.get_refresh_token("bob") == TOKEN + "bob"  # others unaffected
    with pytest.raises(TokenUnavailableError, match="log in again"):
        registry.resume("alice")  # resuming cannot revive a dead token

    registry.enroll("alice", "Alice", TOKEN + "-fresh")  # the user logged in again
    assert registry.get_refresh_token("alice") == TOKEN + "-fresh"
    assert registry.get("alice").reauth_reason is None


def test_pause_and_resume(registry: UserRegistry) -> None:
    _enroll(registry, "alice")
    registry.pause("alice")
    assert registry.get("alice").status == "paused"
    assert registry.active_users() == []
    with pytest.raises(TokenUnavailableError, match="'alice' is paused"):
        registry.get_refresh_token("alice")
    registry.resume("alice")
    assert registry.get("alice").status == "active"
    assert registry.get_refresh_token("alice") == TOKEN + "alice"


def test_save_refresh_token_keeps_authorization_date(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN, authorized_at=T0)
    registry.save_refresh_token("alice", TOKEN + "-rotated")
    assert registry.get_refresh_token("alice") == TOKEN + "-rotated"
    assert registry.get("alice").token_authorized_at == T0


def test_an_export_only_listener_is_enrolled_without_a_token_and_never_polled(
    registry: UserRegistry,
) -> None:
    user = registry.add_export_only("erin", "Erin", "Asia/Tokyo")
    assert (user.status, user.timezone) == ("export_only", "Asia/Tokyo")
    assert registry.require_listener("erin") == user  # imports are accepted for them
    assert registry.active_users() == []  # nobody polls them
    with pytest.raises(TokenUnavailableError, match="only an export"):
        registry.get_refresh_token("erin")
    with pytest.raises(TokenUnavailableError, match="spotify-assets login"):
        registry.resume("erin")
    with pytest.raises(ValueError, match="already enrolled"):
        registry.add_export_only("erin", "Erin", "UTC")
    # Logging in later makes them an ordinary, polled listener.
    registry.enroll("erin", "Erin", TOKEN)
    assert registry.get("erin").status == "active"
    assert registry.get("erin").timezone == "Asia/Tokyo"


def test_a_registry_made_by_an_earlier_version_is_migrated(tmp_path) -> None:
    import tarfile
    from pathlib import Path

    from spotify_assets.lib.settings import load_settings

    fixture = Path(__file__).parents[2] / "fixtures" / "daily_layout_data.tgz"
    with tarfile.open(fixture) as archive:
        archive.extract("state/users.sqlite3", tmp_path, filter="data")
    old = sqlite3.connect(tmp_path / "state" / "users.sqlite3")
    before = old.execute("select id, status, timezone from users order by id").fetchall()
    old.close()
    registry = UserRegistry(load_settings(data_dir=tmp_path))
    users = registry.list()
    assert [(u.id, u.status, u.timezone) for u in users] == before and len(before) == 5
    assert all(u.handle.startswith("l-") for u in users)
    assert len({u.handle for u in users}) == len(users)
    registry.add_export_only("newcomer", "", "UTC")  # the new status fits the migrated table
    assert UserRegistry(load_settings(data_dir=tmp_path)).get("newcomer").status == "export_only"
