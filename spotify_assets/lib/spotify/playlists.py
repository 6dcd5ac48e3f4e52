"""Idempotent playlists: "this user's playlist for this key holds these tracks", safely re-runnable.

`ensure_playlist` is for pipelines that make one playlist per user and period (a weekly release
radar, a monthly wrapped). The caller keeps a `PlaylistState` per (user, key) wherever it likes
and passes a `save` callback; the state is saved *before* the playlist is created (status
`creating`) and as soon as its id is known, so a crash or an ambiguous answer never leads to a
second playlist:
- `synced` with the same tracks: nothing to do, no request.
- known id: one `library/contains` request; a playlist the user deleted (no longer in their
  library) becomes `deleted_by_user` and is never recreated for that key.
- `creating` without id (a create whose answer was lost, or a crash right after it): the user's
  playlists are searched for the exact name and marker before creating again.
- tracks: only the missing ones are added, in order. A 5xx on a POST may or may not have been
  applied (the transport does not retry it), so the playlist is read back and only what is still
  missing is added again; 429s are retried by the transport (never applied). Tracks the user
  added themselves stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from spotify_assets.lib.pseudonyms import who
from spotify_assets.lib.spotify.errors import SpotifyServerError
from spotify_assets.lib.spotify.transport import log

if TYPE_CHECKING:
    from spotify_assets.lib.spotify.client import SpotifyClient

Status = Literal["creating", "partial", "synced", "deleted_by_user"]
# Read back and top up at most this often after ambiguous failures, then give up (raise).
MAX_SYNC_ROUNDS = 4


@dataclass(frozen=True)
class PlaylistState:
    """What we know of one user's playlist for one key (stored by the caller)."""

    status: Status
    playlist_id: str | None = None
    uris: tuple[str, ...] = ()
    snapshot_id: str | None = None


@dataclass(frozen=True)
class EnsureResult:
    state: PlaylistState
    created: bool = False
    adopted: bool = False
    added: int = 0
    requests_skipped: bool = False


def desired_uris(uris: Iterable[str]) -> tuple[str, ...]:
    """The URIs once each, first occurrence first."""
    return tuple(dict.fromkeys(uris))


def ensure_playlist(
    client: SpotifyClient,
    user_id: str,
    *,
    name: str,
    description: str,
    marker: str,
    uris: Sequence[str],
    previous: PlaylistState | None,
    save: Callable[[PlaylistState], None],
) -> EnsureResult:
    """Make the user's playlist for this key hold `uris` (rules in the module docstring).

    `marker` is a text unique to the key that `description` contains (it identifies a playlist
    we created but whose id we never learned).
    """
    if marker not in description:
        raise ValueError("the description must contain the marker")
    wanted = desired_uris(uris)
    if previous is not None and previous.status == "deleted_by_user":
        return EnsureResult(previous, requests_skipped=True)
    if previous is not None and previous.status == "synced" and previous.uris == wanted:
        return EnsureResult(previous, requests_skipped=True)
    playlist_id = previous.playlist_id if previous else None
    created = adopted = False
    if playlist_id is not None:
        [in_library] = client.library_contains(user_id, [f"spotify:playlist:{playlist_id}"])
        if not in_library:
            state = PlaylistState("deleted_by_user", playlist_id, previous.uris if previous else ())
            save(state)
            return EnsureResult(state)
        save(PlaylistState("partial", playlist_id, wanted))
    else:
        if previous is not None and previous.status == "creating":
            playlist_id = _find(client, user_id, name, marker)
            adopted = playlist_id is not None
        if playlist_id is None:
            playlist_id, adopted = _create(client, user_id, name, description, marker, wanted,
                                           save)
            created = not adopted
        save(PlaylistState("partial", playlist_id, wanted))
    added, snapshot = _sync(client, user_id, playlist_id, wanted, fresh=created)
    state = PlaylistState("synced", playlist_id, wanted,
                          snapshot or (previous.snapshot_id if previous else None))
    save(state)
    return EnsureResult(state, created=created, adopted=adopted, added=added)


def _find(client: SpotifyClient, user_id: str, name: str, marker: str) -> str | None:
    for playlist in client.my_playlists(user_id):
        owner = playlist.owner.id if playlist.owner else None
        if playlist.name == name and marker in (playlist.description or "") and (
            owner in (None, user_id)
        ):
            return playlist.id
    return None


def _create(
    client: SpotifyClient,
    user_id: str,
    name: str,
    description: str,
    marker: str,
    wanted: tuple[str, ...],
    save: Callable[[PlaylistState], None],
) -> tuple[str, bool]:
    """(playlist id, whether an existing one was adopted instead of created)."""
    save(PlaylistState("creating", None, wanted))
    try:
        return client.create_playlist(user_id, name, description).id, False
    except SpotifyServerError:
        # The create may have happened: look before creating a second one.
        found = _find(client, user_id, name, marker)
        if found is not None:
            return found, True
        log.warning("spotify create playlist for %s failed unapplied; creating again",
                    who(user_id))
        return client.create_playlist(user_id, name, description).id, False


def _sync(
    client: SpotifyClient, user_id: str, playlist_id: str, wanted: tuple[str, ...], *, fresh: bool
) -> tuple[int, str | None]:
    """Add what `wanted` has and the playlist lacks; (how many added, last snapshot id)."""
    present: set[str] = set() if fresh else set(client.playlist_item_uris(user_id, playlist_id))
    initially_missing = len([uri for uri in wanted if uri not in present])
    snapshot: str | None = None
    for _ in range(MAX_SYNC_ROUNDS):
        missing = [uri for uri in wanted if uri not in present]
        if not missing:
            return initially_missing, snapshot
        try:
            snapshot = client.add_playlist_items(user_id, playlist_id, missing)
            return initially_missing, snapshot
        except SpotifyServerError as exc:
            # Some chunks (or all) may have been applied: read back, add only what is missing.
            log.warning("spotify playlist add for %s: %s; reading the playlist back",
                        who(user_id), exc.message)
            present = set(client.playlist_item_uris(user_id, playlist_id))
    raise SpotifyServerError(
        user_id, "POST /v1/playlists/{id}/items", None,
        f"tracks still missing after {MAX_SYNC_ROUNDS} attempts",
    )
