"""The real export samples copied into realdata/ (see its README for origins), and helpers."""

from __future__ import annotations

import json
from pathlib import Path

from spotify_assets.lib.exports import ParsedExport, parse_export_path

REALDATA = Path(__file__).parent / "realdata"
EXTENDED_2022 = REALDATA / "extended_Streaming_History_Audio_2022__Efrrowini.json"
EXTENDED_2023 = REALDATA / "extended_Streaming_History_Audio_2023_first300__Efrrowini.json"
ENDSONG = REALDATA / "extended_legacy_endsong_first300__CandidlyRed.json"
ACCOUNT_MUSIC = REALDATA / "account_StreamingHistory_music_0_first300__hobbies-w-erin.json"
ACCOUNT_PODCAST = REALDATA / "account_StreamingHistory_podcast_0_first100__hobbies-w-erin.json"
ACCOUNT_AUDIOBOOK = REALDATA / "account_StreamingHistory_audiobook_0__hobbies-w-erin.json"

# Expected formats, from the sample README (which says where each file came from).
REAL_FILES = {
    EXTENDED_2022: "extended",
    EXTENDED_2023: "extended",
    ENDSONG: "endsong",
    ACCOUNT_MUSIC: "account_music",
    ACCOUNT_PODCAST: "account_podcast",
    ACCOUNT_AUDIOBOOK: "account_audiobook",
}


def load_rows(path: Path) -> list[dict]:
    return json.loads(path.read_bytes())


def write_rows(path: Path, rows: list) -> Path:
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


ENGINES = ("ijson", "duckdb")
# The keys Spotify's exports carry about the person, which nothing may keep (schema.py).
PII = {"ip_addr", "ip_addr_decrypted", "username", "user_agent_decrypted"}


def parse_sample(path: Path, engine: str = "ijson", name: str | None = None) -> ParsedExport:
    return parse_export_path("alice", path, name=name, engine=engine)
