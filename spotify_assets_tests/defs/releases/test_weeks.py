"""The documented rule for the week a release belongs to, for each date precision."""

from datetime import date

import pytest

from spotify_assets.defs.releases.common import radar_week

W10 = date(2026, 3, 2)  # Monday of ISO week 10


@pytest.mark.parametrize(
    ("release_date", "first_seen", "week"),
    [
        ("2026-03-06", W10, W10),  # a day: its own week, whenever first seen
        ("2026-03-08", date(2026, 3, 16), W10),  # Sunday; listed late: still its own week
        ("2026-03-09", W10, date(2026, 3, 9)),  # Monday belongs to the next week
        ("2026-03", W10, W10),  # a month: the week first listed, inside the month
        ("2026-03", date(2026, 2, 23), date(2026, 2, 23)),  # that week reaches into March
        ("2026-02", date(2026, 3, 9), None),  # first listed after its month: no radar
        ("2026", date(2026, 3, 9), date(2026, 3, 9)),  # a year: the week first listed
        ("1987", W10, None),  # an old release seen on an artist's first fetch
        ("2025", date(2025, 12, 29), date(2025, 12, 29)),  # ISO week 1 of 2026, in 2025
        (None, W10, None),
        ("soon", W10, None),
    ],
)
def test_radar_week(release_date: str | None, first_seen: date, week: date | None) -> None:
    assert radar_week(release_date, first_seen) == week
