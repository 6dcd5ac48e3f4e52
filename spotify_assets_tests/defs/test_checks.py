"""The listeners check shared by polling, top lists and releases."""

from types import SimpleNamespace

from spotify_assets.defs.checks import users_check
from spotify_assets.lib.pseudonyms import handle_of, remember


def _outcomes(**users_by_status: list[str]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(user_id=user, status=status)
        for status, users in users_by_status.items()
        for user in users
    ]


def test_red_for_login_or_failure_named_by_handle_and_counted() -> None:
    for user, handle in (("checks-alice", "l-0000a11c"), ("checks-bob", "l-00000b0b")):
        remember(user, handle)
    result = users_check(
        "users_ok",
        _outcomes(
            needs_reauth=["checks-alice", "nobody-listed"],
            error=["checks-bob", "also-unlisted"],
            deferred=["checks-carol"],
            ok=["checks-erin"],
        ),
        # A listener already parked (not tried by the run) and one the run found parked.
        needs_login=["checks-alice"],
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
    result = users_check("users_ok", _outcomes(deferred=["checks-dave"], ok=["checks-erin"]))
    assert result.passed and handle_of("checks-dave") == "l-0000ca01"
    assert result.description == (
        "listeners who must log in again: none; failing: none; deferred: l-0000ca01"
    )
