"""The listeners check shared by polling, top lists and releases."""

from spotify_assets.defs.checks import users_check
from spotify_assets.lib.pseudonyms import handle_of, remember


def test_red_for_login_or_failure_named_by_handle_and_counted() -> None:
    for user, handle in (("checks-alice", "l-0000a11c"), ("checks-bob", "l-00000b0b")):
        remember(user, handle)
    result = users_check(
        "users_ok",
        needs_login=["checks-alice", "checks-alice", "nobody-listed"],
        failing=["checks-bob", "also-unlisted"],
        deferred=["checks-carol"],
        asset="top_tracks",
    )
    assert not result.passed
    assert result.description == (
        "listeners who must log in again: an unlisted listener, l-0000a11c; "
        "failing: an unlisted listener, l-00000b0b; deferred: an unlisted listener"
    )
    for user in ("checks-alice", "checks-bob", "checks-carol"):
        assert user not in result.description
    # Counted by listener, not by name: unlisted ones share one.
    assert {k: v.value for k, v in result.metadata.items()} == {
        "needs_reauth": 2,
        "failing": 2,
        "deferred": 1,
    }


def test_deferred_listeners_alone_leave_it_green() -> None:
    remember("checks-dave", "l-0000ca01")
    result = users_check("users_ok", needs_login=[], failing=[], deferred=["checks-dave"])
    assert result.passed and handle_of("checks-dave") == "l-0000ca01"
    assert result.description == (
        "listeners who must log in again: none; failing: none; deferred: l-0000ca01"
    )
