"""`spotify-assets sql` (issue 17), through the real entry point, from a directory other than the
catalog's, against a catalog published by a real import and refresh. The answers are checked
against the generated export itself (every track row of >= 30 s is one play, filed under the
UTC day it started). Then the analyst's loop during a long import and its refresh: every query
of `spotify-assets sql` and of the DuckDB shell it opens answers, with a state some commit
published, and a reader never takes the publisher's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from spotify_assets.cli import main
from spotify_assets.defs.listening.commands import refresh_stale
from spotify_assets.defs.listening.imports import import_item
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib import catalog
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.instance import deployment_instance
from spotify_assets.lib.raw import RawStore
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.conftest import record_fault

CLI = str(Path(sys.executable).parent / "spotify-assets")


def plays_by_day(export: Path) -> Counter[str]:
    """The truth: each track row of >= 30 s is a play, on the UTC day it started."""
    days: Counter[str] = Counter()
    for row in json.loads(export.read_text()):
        if row["spotify_track_uri"] and row["ms_played"] >= 30_000:
            ended = datetime.strptime(row["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            days[(ended - timedelta(milliseconds=row["ms_played"])).date().isoformat()] += 1
    return days


def _import(settings: Settings, user: str, export: Path) -> None:
    inbox = settings.inbox_dir / user
    inbox.mkdir(parents=True, exist_ok=True)
    item = inbox / export.name
    item.write_bytes(export.read_bytes())
    result = import_item(settings, Warehouse(settings), RawStore(settings.raw_dir), user, item)
    assert result.status == "imported", result.error


@contextlib.contextmanager
def _deployment(root: Path) -> Iterator[Settings]:
    """A deployment with one imported and refreshed history; the CLI's children inherit it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        (root / "dagster_home").mkdir()
        monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(root / "data"))
        get_settings.cache_clear()
        settings = get_settings()
        UserRegistry(settings).enroll("keeper", "Keeper", "a-token", timezone="Europe/Berlin")
        export = root / "Streaming_History_Audio_2020.json"
        write_extended_file(export, 4_000, seed=1)
        _import(settings, "keeper", export)
        assert refresh_stale(settings, deployment_instance(settings)) == 0
        try:
            yield settings
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One published catalog for the tests that only read it."""
    with _deployment(tmp_path_factory.mktemp("published")) as settings:
        yield settings


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Settings]:
    with _deployment(tmp_path) as settings:
        yield settings


def _export(settings: Settings) -> Path:
    return settings.data_dir.parent / "Streaming_History_Audio_2020.json"


def sql(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, "sql", *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_a_query_prints_a_table_csv_or_json_from_any_directory(
    published: Settings, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    truth = plays_by_day(_export(published))

    as_csv = sql("--csv", "select day, count(*) as plays from plays group by day order by day",
                 cwd=elsewhere)  # fmt: skip
    assert as_csv.returncode == 0, as_csv.stderr
    lines = as_csv.stdout.strip().splitlines()
    assert lines[0] == "day,plays"
    assert {day: int(n) for day, n in (line.split(",") for line in lines[1:])} == truth

    as_json = sql("--json", "select count(*) as plays, max(day) as last_day, "
                  "bool_and(user_id = 'keeper') as one_user from plays", cwd=elsewhere)  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"plays": sum(truth.values()), "last_day": max(truth), "one_user": True}
    ]

    table = sql("select count(*) as plays from plays", cwd=elsewhere)
    assert table.returncode == 0, table.stderr
    assert "plays" in table.stdout and f"{sum(truth.values())}" in table.stdout
    assert "│" in table.stdout  # DuckDB's box, as the shell shows it

    latest = sql("--csv", "select is_latest from warehouse_snapshot", cwd=elsewhere)
    assert latest.stdout.split() == ["is_latest", "true"]


def test_without_a_query_it_opens_the_duckdb_shell_read_only(
    published: Settings, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    truth = plays_by_day(_export(published))
    shell = sql(
        stdin=".mode csv\nselect count(*) as plays from plays;\ncreate table mine (a int);\n",
        cwd=elsewhere,
    )
    assert f"plays\n{sum(truth.values())}\n" in shell.stdout, shell.stdout + shell.stderr
    assert "read-only" in shell.stderr
    assert not (elsewhere / "mine").exists() and list(elsewhere.iterdir()) == []


def test_bad_sql_is_one_line_and_exit_2(
    published: Settings, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(published.data_dir))
    get_settings.cache_clear()
    for query, says in (
        ("selec 1", "query failed: Parser Error: syntax error"),
        ("select * from plais", 'Did you mean "plays"'),
        ("create table t (a int)", "read-only"),
        ("   ", "the query is empty"),
    ):
        assert main(["sql", query]) == 2
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and says in err, err


def test_a_reader_never_takes_the_publishers_lock(published: Settings, tmp_path: Path) -> None:
    """A publisher holds this lock while it builds and renames a catalog; a reader answers
    while it is held (DuckDB would not wait either: a conflicting lock is an error)."""
    lock = published.warehouse_path.with_name(f".{published.warehouse_path.name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        answer = sql("--csv", "select count(*) as n from exported_plays", cwd=tmp_path)
        shell = sql(stdin=".mode csv\nselect count(*) as n from exported_plays;\n", cwd=tmp_path)
    assert answer.returncode == 0 and answer.stdout.split() == ["n", "4000"], answer.stderr
    assert "n\n4000" in shell.stdout, shell.stderr


LOOP = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    cli, stop, query = sys.argv[1:4]
    modes = ["query", "shell"]
    n = 0
    while not os.path.exists(stop):
        mode = modes[n % 2]
        n += 1
        begun = time.monotonic()
        if mode == "query":
            out = subprocess.run([cli, "sql", "--csv", query], capture_output=True, text=True)
        else:
            out = subprocess.run([cli, "sql"], input=".mode csv\\n" + query + ";\\n",
                                 capture_output=True, text=True)
        lines = out.stdout.strip().splitlines()
        ok = out.returncode == 0 and not out.stderr.strip() and len(lines) == 2
        print(json.dumps({"mode": mode, "ok": ok, "row": lines[-1] if ok else None,
                          "error": None if ok else (out.stderr or out.stdout)[-500:],
                          "seconds": time.monotonic() - begun}), flush=True)
    """
)
STATE = (
    "select (select count(*) from plays) as plays, (select count(*) from exported_plays) "
    "as exported, (select count(*) from daily_listening) as daily"
)


def _state(settings: Settings) -> tuple[int, ...]:
    con = catalog.connect(settings.warehouse_path)
    try:
        return tuple(int(x) for x in con.execute(STATE).fetchone())
    finally:
        con.close()


@pytest.mark.slow
def test_sql_in_a_loop_during_an_import_and_its_refresh_never_fails(
    request: pytest.FixtureRequest, deployment: Settings, tmp_path: Path
) -> None:
    settings = deployment
    before = _state(settings)
    export = tmp_path / "Streaming_History_Audio_2021-2022.json"
    history = 100_000  # rows, ~8 months: the import and its refresh fill most of the loop
    write_extended_file(export, history, seed=2)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", LOOP, CLI, str(stop), STATE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    time.sleep(3.0)  # the reader has answered before the import starts
    # The operator's import, in its own process: everything it prints (progress lines every
    # few seconds when stderr is not a terminal, its report) is stamped as it arrives.
    begun = time.monotonic()
    importer = subprocess.Popen(
        [CLI, "import", "--user", "keeper", str(export)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
    )  # fmt: skip
    stamped = [(time.monotonic() - begun, line) for line in importer.stdout]
    importer.wait(timeout=600)
    ended = time.monotonic() - begun
    time.sleep(3.0)  # and after the refresh
    stop.touch()
    answers_out, reader_err = reader.communicate(timeout=120)
    assert importer.returncode == 0, "".join(line for _, line in stamped)[-3000:]
    after = _state(settings)

    answers = [json.loads(line) for line in answers_out.splitlines() if line.strip()]
    failures = [a for a in answers if not a["ok"]]
    assert reader.returncode == 0, reader_err[-2000:]
    assert failures == [] and len(answers) >= 6, failures or answers
    assert {a["mode"] for a in answers} == {"query", "shell"}
    # Every answer is a published state: each table either before or after (the import and
    # the refresh's tables publish one after another); the first and last are the ends.
    rows = [tuple(int(x) for x in a["row"].split(",")) for a in answers]
    assert after[0] - before[0] == sum(plays_by_day(export).values())
    assert after[1] - before[1] == history
    for row in rows:
        assert all(row[i] in (before[i], after[i]) for i in range(3)), (row, before, after)
    assert rows[0] == before and rows[-1] == after

    # The import said it started, what it read and what the refresh rewrote (how often it
    # speaks while working: docs/benchmarks.md; a fast import may end before its next line).
    lines = [line for _, line in stamped]
    assert lines and lines[0].startswith(f"import {export.name}: "), stamped
    assert any(line.strip() == f"| read | {history} |" for line in lines), stamped
    assert any("plays: " in line and "day(s) rewritten" in line for line in lines), stamped
    # Recorded, not asserted: from its first line (not the interpreter's start) to its exit.
    times = [*(t for t, _ in stamped), ended]
    worst = max(b - a for a, b in itertools.pairwise(times))
    record_fault(
        request,
        "an analyst's spotify-assets sql and DuckDB shell in a loop during an import + refresh",
        lost_rows=0,
        others="no",
        note=f"{len(answers)} queries, 0 failed; import progress at most {worst:.1f} s apart",
    )
