"""The wrapped reports: one offline HTML page per user and month, named by handle, with the
month's names and numbers and its charts embedded as SVG (checked without a browser); the
materialization links each by file:// URL. Then the page in headless Chromium (Debian's
`chromium`; skipped where it is not installed, e.g. a CI machine without it): the screenshot
has the charts' colours.
"""

from __future__ import annotations

import html
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import dagster as dg
import pytest

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.pages import report_path
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED, MONTHLY_WRAPPED_TOPS
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets.lib.wrapped import charts
from spotify_assets_tests.conftest import emulator_settings
from spotify_assets_tests.defs.wrapped.conftest import (
    LATE,
    MONTH,
    TICK,
    USERS,
    enroll_all,
    metadata,
    run_tick,
    write_genres,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def month_end(
    emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, dict[str, Path]]:
    """Both ticks of the end of March (capture, then final), run once for this module's tests,
    which read the reports (the second renders them again and wants the same bytes): the
    enrolled settings, and user id -> their report."""
    emulator.state.reset()  # as the `emu` fixture leaves it
    data = tmp_path_factory.mktemp("reports") / "data"
    enrolled = enroll_all(emulator, emulator_settings(emulator, data).model_copy(
        update={"token_key": None}))  # as the `settings` fixture makes them
    write_genres(Warehouse(enrolled), emulator.state.world)
    with dg.instance_for_test() as instance:
        run_tick(enrolled, TICK, instance)
        final = run_tick(enrolled, TICK.replace(hour=12, minute=30), instance)
    links = metadata(final, "monthly_wrapped_reports", MONTH.isoformat())["links"]
    registry = UserRegistry(enrolled)
    paths = {u: report_path(enrolled, registry.require(u).handle, "2026-03") for u in USERS}
    for path in paths.values():
        assert path.resolve().as_uri() in links  # the UI leads to every report
    return enrolled, paths


@pytest.fixture
def enrolled(emu: EmulatorHandle, month_end: tuple[Settings, dict[str, Path]]) -> Settings:
    return month_end[0]


@pytest.fixture
def reports(emu: EmulatorHandle, month_end: tuple[Settings, dict[str, Path]]) -> dict[str, Path]:
    return month_end[1]


def test_each_report_is_an_offline_page_with_its_names_numbers_and_charts(
    emu: EmulatorHandle, enrolled: Settings, reports: dict[str, Path]
) -> None:
    world = emu.state.world
    warehouse = Warehouse(enrolled)
    for user, path in reports.items():
        assert path.is_file() and user not in str(path)  # the folder is the handle
        page = path.read_text()
        [row] = warehouse.scan(MONTHLY_WRAPPED, "user_id = ?", [user]).to_pylist()
        tops = warehouse.scan(MONTHLY_WRAPPED_TOPS, "user_id = ? and rank <= 5",
                              [user]).to_pylist()
        for entity in ("track", "artist", "album", "genre"):
            for top in (t for t in tops if t["entity"] == entity):
                assert html.escape(top["name"]) in page, (user, entity, top["name"])
        assert f"{row['plays']:,}" in page and f"{round(row['minutes']):,}" in page
        assert html.escape(row["top_track_name"]) in page
        # Charts: minutes per day, top artists, genres, hours of the day, as inline SVG.
        assert page.count("<svg") == 4
        assert charts.PALETTE["hours"] in page and charts.PALETTE["genres"] in page
        assert "<script" not in page and "<link" not in page
        assert 'src="http' not in page and "url(http" not in page
        if user == LATE:
            assert "this month ended before you enrolled" in page
        else:
            captured = world.top(user, "artists", "short_term")[0]
            assert html.escape(world.artists[captured].name) in page
            assert "when the month ended" in page


def test_an_unchanged_month_renders_the_same_bytes(
    enrolled: Settings, reports: dict[str, Path]
) -> None:
    before = {u: p.read_bytes() for u, p in reports.items()}
    with dg.instance_for_test() as instance:
        run_tick(enrolled, TICK.replace(hour=12, minute=30), instance)
    assert {u: p.read_bytes() for u, p in reports.items()} == before


# --- in a browser ---------------------------------------------------------------------------


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG (Chromium's)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], None
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        up = previous or bytearray(stride)
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            corner = up[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up[x]) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up[x]) // 2) & 255
            elif kind == 4:
                p = left + up[x] - corner
                pa, pb, pc = abs(p - left), abs(p - up[x]), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up[x] if pb <= pc
                                      else corner)) & 255
        rows.append(bytes(line))
        previous = line
    if channels == 4:
        rows = [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows]
    return width, height, rows


def count_colour(rows: list[bytes], hex_colour: str, tolerance: int = 8) -> int:
    want = bytes.fromhex(hex_colour.lstrip("#"))
    found = 0
    for row in rows:
        for i in range(0, len(row), 3):
            if all(abs(row[i + k] - want[k]) <= tolerance for k in range(3)):
                found += 1
    return found


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed here "
                    "(apt-get install -y chromium); the page itself is checked above")
def test_the_report_opens_in_headless_chromium_and_shows_its_charts(
    reports: dict[str, Path], tmp_path: Path
) -> None:
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars",
         "--force-device-scale-factor=0.5", "--window-size=1320,2000",
         f"--screenshot={shot}", reports["demo_heavy"].resolve().as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == (660, 1000)
    # Each chart's bars are drawn in its own colour, which nothing else on the page uses.
    assert count_colour(rows, charts.PALETTE["hours"]) > 300  # hours of the day
    assert count_colour(rows, charts.PALETTE["genres"]) > 100  # top genres
    assert count_colour(rows, charts.PALETTE["artists"]) > 100  # top artists
