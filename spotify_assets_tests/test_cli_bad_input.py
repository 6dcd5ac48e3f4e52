"""Every command answers bad operator input with one clear line and a non-zero exit, never a
traceback (issue 14). Each case runs the real `spotify-assets` entry point in this process, so
an exception that escapes fails the test loudly."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from spotify_assets.cli import main
from spotify_assets.lib.settings import get_settings
from spotify_assets.lib.users.registry import UserRegistry

EXPORT = (
    Path(__file__).resolve().parent
    / "lib" / "exports" / "realdata"
    / "extended_Streaming_History_Audio_2023_first300__Efrrowini.json"
)  # fmt: skip

# (argv, environment overrides, what the one line says)
CASES = [
    (["users", "pause", "../x"], {}, "invalid user id '../x'"),
    (["users", "pause", ""], {}, "invalid user id ''"),
    (["users", "pause", "nobody"], {}, "nobody"),
    (["users", "set-timezone", "alice", "Mars/Olympus"], {}, "unknown timezone 'Mars/Olympus'"),
    (["users", "opt-in", "alice", "free_coffee"], {}, "invalid choice: 'free_coffee'"),
    (["users", "add", "bob", "--timezone", "Atlantis/Capital"], {}, "unknown timezone"),
    (["users", "add", "alice", "--timezone", "UTC"], {}, "already enrolled"),
    (["users", "list", "--status", "sleepy"], {}, "sleepy"),
    (["users", "remove", "a/b", "--yes"], {}, "invalid user id 'a/b'"),
    (["users", "resume", "alice"], {}, "only an export"),
    (["import", "--user", "nobody", str(EXPORT)], {}, "no listener 'nobody' is enrolled"),
    (["import", "--user", "ALICE", str(EXPORT)], {}, "Did you mean 'alice'?"),
    (["import", "--user", "../x", str(EXPORT)], {}, "invalid user id '../x'"),
    (["import", "--user", "alice", "/no/such/file.json"], {}, "no such file"),
    (["import", "--user", "alice", str(EXPORT)], {"DAGSTER_HOME": "/no/such/home"}, "not a folder"),
    (["refresh"], {"DAGSTER_HOME": "/no/such/home"}, "not a folder"),
    (["upgrade"], {"DAGSTER_HOME": "/no/such/home"}, "not a folder"),
    (["runs", "check"], {"DAGSTER_HOME": "/no/such/home"}, "not a folder"),
    (["runs", "fix"], {}, "invalid choice: 'fix'"),
    (["rebuild"], {}, "no raw/ folder in"),  # a mistyped data folder: nothing to rebuild
    (["catalog", "shrink"], {}, "invalid choice: 'shrink'"),
    (["bench", "everything"], {}, "invalid choice: 'everything'"),
    (["emulator", "--port", "99999"], {}, "port 99999 is not between 1 and 65535"),
    (["demo", "--port", "0"], {}, "port 0 is not between 1 and 65535"),
    (["frobnicate"], {}, "invalid choice: 'frobnicate'"),
    (["users", "list"], {"SPOTIFY_ASSETS_EMULATOR_PORT": "lots"}, "SPOTIFY_ASSETS_EMULATOR_PORT"),
    (["users", "list"], {"SPOTIFY_ASSETS_DEFAULT_TIMEZONE": "Nowhere"}, "unknown IANA timezone"),
    (["users", "list"], {"SPOTIFY_ASSETS_MODE": "live"}, "live mode requires"),
    (["catalog", "summary"], {}, "no catalog yet"),
    (["sql", "select 1"], {}, "no catalog yet"),
    (["sql"], {}, "no catalog yet"),
    (["sql", "--csv", "--json", "select 1"], {}, "not allowed with argument"),
]


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    get_settings.cache_clear()
    UserRegistry(get_settings()).add_export_only("alice", "Alice", "Europe/Berlin")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.mark.parametrize(("argv", "env", "says"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_gets_one_clear_line(
    deployment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    argv: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    said = (err or out).strip()
    assert code not in (0, None), said
    assert says in said
    assert len(said.splitlines()) == 1, said
    assert "Traceback" not in out + err
    # Refused before anything was written.
    assert not (deployment / "lake").exists() and not (deployment / "inbox").exists()
