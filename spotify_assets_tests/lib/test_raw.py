"""The raw landing zone: content-addressed, gzip, never rewritten."""

import gzip
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from spotify_assets.lib.ids import InvalidIdError
from spotify_assets.lib.raw import RawStore, note_landing, receipt_row, recording


def test_landing_is_idempotent_and_deterministic(tmp_path) -> None:
    store = RawStore(tmp_path)
    when = datetime(2026, 1, 5, 12, 30, 1, tzinfo=UTC)
    first = store.put("recently_played", "alice", b'{"items": []}', received_at=when)
    again = store.put("recently_played", "alice", b'{"items": []}', received_at=when)
    assert first.created and not again.created
    assert first.path == again.path
    assert first.path.relative_to(tmp_path).as_posix().startswith(
        "recently_played/alice/2026-01-05/123001_"
    )
    assert gzip.decompress(first.path.read_bytes()) == b'{"items": []}'
    mtime = first.path.stat().st_mtime_ns
    store.put("recently_played", "alice", b'{"items": []}', received_at=when)
    assert first.path.stat().st_mtime_ns == mtime  # never rewritten


def test_files_by_hash_are_found_again(tmp_path) -> None:
    store = RawStore(tmp_path)
    ref = store.put("exports", "bob", b"[]", by_hash=True)
    assert store.find_by_hash("exports", "bob", ref.sha256) == ref.path
    assert list(store.iter("exports", "bob")) == [ref.path]
    assert RawStore.read(ref.path) == b"[]"


@pytest.mark.parametrize("user", ["../../etc", "x'; drop table plays; --", "", ".hidden", "a/b"])
def test_hostile_user_ids_never_become_paths(tmp_path, user: str) -> None:
    with pytest.raises(InvalidIdError):
        RawStore(tmp_path).put("exports", user, b"[]")
    assert not any(tmp_path.rglob("*"))


def test_remove_user_deletes_only_that_user(tmp_path) -> None:
    store = RawStore(tmp_path)
    store.put("exports", "alice", b"[1]", by_hash=True)
    store.put("recently_played", "alice", b"{}")
    kept = store.put("exports", "bob", b"[2]", by_hash=True)
    files, size = store.remove_user("alice")
    assert files == 2 and size > 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [kept.path]


def test_landing_sweeps_what_a_killed_writer_left(tmp_path) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process
    store = RawStore(tmp_path)
    folder = tmp_path / "exports" / "alice"
    folder.mkdir(parents=True)
    stale = folder / f".{'a' * 64}.json.gz.tmp-{dead.pid}-0123456789ab"
    stale.write_bytes(b"half a file")
    ref = store.put("exports", "alice", b"[]", by_hash=True)
    assert ref.created and not stale.exists()
    assert sorted(p.name for p in folder.iterdir()) == [ref.path.name]


def test_receipts_come_back_in_the_order_they_were_written_across_users(tmp_path) -> None:
    store = RawStore(tmp_path)
    t0 = datetime(2026, 3, 9, 23, 59, 59, 999_000, tzinfo=UTC)
    # Written out of order, across a midnight, by two listeners and the app.
    store.put_receipt("bob", "b", [("t", "2")], at=t0 + timedelta(microseconds=500))
    store.put_receipt("alice", "a", [("t", "1")], at=t0)
    store.put_receipt("_app", "c", [("u", "x")], at=t0 + timedelta(seconds=1))
    store.put_receipt("alice", "d", [("t", "1")], at=t0 + timedelta(microseconds=501), n=1)

    got = [(r["recipe"], r["user_id"], r["writes"]) for r in store.receipts()]

    assert got == [("a", "alice", [["t", "1"]]), ("b", "bob", [["t", "2"]]),
                   ("d", "alice", [["t", "1"]]), ("c", "_app", [["u", "x"]])]
    assert store.receipts()[2]["n"] == 1
    # A listener's receipts go with the rest of their raw files.
    store.remove_user("alice")
    assert [r["recipe"] for r in store.receipts()] == ["b", "c"]


def test_the_user_of_a_landed_object_comes_from_its_folder(tmp_path) -> None:
    """Every kind of landing (timestamped, by hash, receipt), by its absolute path and by the
    path under the root a recording notes; a path that is no landing is refused."""
    store = RawStore(tmp_path)
    with recording() as calls:
        ref = store.put("recently_played", "u.dotted-1", b"{}",
                        received_at=datetime(2026, 1, 5, tzinfo=UTC))
        note_landing("GET /me/player/recently-played", ref, store.root)
    landed = [
        ref.path,
        store.put("exports", "bob", b"[]", by_hash=True).path,
        store.put_receipt("_app", "c", [("u", "x")]),
    ]
    assert [store.user_of(p) for p in landed] == ["u.dotted-1", "bob", "_app"]
    assert store.user_of(calls[0][1]) == "u.dotted-1"
    for bad in ["exports", "exports/bob", "../x/bob/f.gz", tmp_path.parent / "elsewhere.gz"]:
        with pytest.raises(ValueError):
            store.user_of(bad)


def test_a_receipts_row_comes_back_in_the_tables_types(tmp_path) -> None:
    """A row kept in a receipt (JSON) reads back equal to the row written, in types Arrow
    takes for the table; its JSON text alone does not fit the table."""
    schema = pa.schema([
        ("week", pa.date32()), ("user_id", pa.string()), ("playlist_id", pa.string()),
        ("track_uris", pa.list_(pa.string())), ("snapshot_id", pa.string()),
        ("updated_at", pa.timestamp("ms", tz="UTC")), ("tracks", pa.int32()),
    ])
    row = {"week": date(2026, 3, 2), "user_id": "alice", "playlist_id": None,
           "track_uris": ["spotify:track:a", "spotify:track:b"], "snapshot_id": None,
           "updated_at": datetime(2026, 3, 9, 23, 59, 59, 123_000, tzinfo=UTC), "tracks": 2}
    store = RawStore(tmp_path)
    store.put_receipt("alice", "r", [("t", "2026-03-02/alice")], row=row)
    [receipt] = store.receipts()

    assert receipt_row(schema, receipt["row"]) == row
    assert pa.Table.from_pylist([receipt_row(schema, receipt["row"])], schema).to_pylist() == [row]
    with pytest.raises((pa.ArrowTypeError, pa.ArrowInvalid)):
        pa.Table.from_pylist([receipt["row"]], schema)


class _Trickle:
    """A stream that returns fewer bytes than asked (as a pipe or a slow copy may)."""

    def __init__(self, data: bytes, most: int) -> None:
        self.data, self.most, self.at = data, most, 0

    def read(self, size: int = -1) -> bytes:
        size = min(size if size >= 0 else len(self.data), self.most)
        chunk = self.data[self.at : self.at + size]
        self.at += len(chunk)
        return chunk


def test_a_staged_export_is_gzip_of_its_body_alone(tmp_path) -> None:
    """The raw copy of an export depends on its body only: not on the temp file it was written
    in (whose name gzip would put in the header), nor on how the stream cut its reads; and
    it is gzip any reader opens. Large enough to span several of the writer's blocks."""
    import hashlib
    import io
    import random

    rng = random.Random(7)
    words = [f'{{"ts":"2020-01-{d:02d}","ms_played":{d * 997}}}'.encode() for d in range(1, 29)]
    body = b"[" + b",".join(rng.choice(words) for _ in range(150_000)) + b"]"
    assert len(body) > 3 * (1 << 20)
    sha = hashlib.sha256(body).hexdigest()
    copies = []
    for n, stream in enumerate([io.BytesIO(body), _Trickle(body, 300_001), _Trickle(body, 4096)]):
        store = RawStore(tmp_path / f"store{n}")
        staged = store.stage_stream("exports", "alice", stream, sha256=sha)
        ref = staged.commit()
        assert ref.created and ref.size == len(body)
        copies.append(ref.path.read_bytes())
    assert copies[0] == copies[1] == copies[2]
    assert gzip.decompress(copies[0]) == body
    assert copies[0][3] == 0  # no optional header fields: no file name
