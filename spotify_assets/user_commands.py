"""The `login` and `users ...` subcommands of `spotify-assets` (registered by cli.py).

Handlers take the parsed arguments and return an exit code; settings come from
`args.settings` when a caller put them there (tests, `run()`), else from the environment.
Errors the operator can fix are printed as one line on stderr, never with a token in them.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from spotify_assets.lib.ids import InvalidIdError
from spotify_assets.lib.users.crypto import TokenDecryptError, TokenKeyError
from spotify_assets.lib.users.registry import (
    OPT_IN_FLAGS,
    TokenUnavailableError,
    UnknownUserError,
    User,
    UserRegistry,
    check_user_id,
)

if TYPE_CHECKING:
    from spotify_assets.lib.settings import Settings

Handler = Callable[[argparse.Namespace], int]
_OPERATOR_ERRORS: tuple[type[Exception], ...] = (
    InvalidIdError,
    UnknownUserError,
    TokenKeyError,
    TokenDecryptError,
    TokenUnavailableError,
    ValueError,
)


def _settings(args: argparse.Namespace) -> Settings:
    settings = getattr(args, "settings", None)
    if settings is None:
        from spotify_assets.lib.settings import get_settings

        settings = get_settings()
    return settings


def _operator_errors(handler: Handler) -> Handler:
    """Print fixable errors as `spotify-assets: <message>` and exit 1 instead of a traceback."""

    @functools.wraps(handler)
    def wrapper(args: argparse.Namespace) -> int:
        from spotify_assets.lib.spotify.errors import SpotifyError
        from spotify_assets.lib.users.login import LoginError

        try:
            return handler(args)
        except (*_OPERATOR_ERRORS, LoginError, SpotifyError) as exc:
            print(f"spotify-assets: {exc}", file=sys.stderr)
            return 1

    return wrapper


# -- login ---------------------------------------------------------------------------------------


@_operator_errors
def _cmd_login(args: argparse.Namespace) -> int:
    from spotify_assets.lib.users.login import login

    settings = _settings(args)
    login(
        settings,
        UserRegistry(settings),
        emulator_user=args.emulator_user,
        open_browser=not args.no_browser,
        timeout_s=args.timeout,
    )
    return 0


# -- users ---------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%MZ") if value else "-"


def _row(user: User) -> list[str]:
    status = user.status
    if user.status == "needs_reauth" and user.reauth_reason:
        status = f"needs_reauth: {user.reauth_reason[:60]}"
    pulls = ", ".join(f"{src} {_when(at)}" for src, at in sorted(user.last_pull.items()))
    return [
        user.id,
        user.handle,
        user.display_name,
        user.timezone,
        status,
        ",".join(sorted(user.opt_ins)) or "-",
        _when(user.token_authorized_at)[:10],
        pulls or "never",
    ]


@_operator_errors
def _cmd_list(args: argparse.Namespace) -> int:
    users = UserRegistry(_settings(args)).list(args.status)
    if not users:
        print("no users enrolled; add one with `spotify-assets login`")
        return 0
    # The handle is how run metadata and logs name a user (they outlive `users remove`).
    header = ["id", "handle", "name", "timezone", "status", "opt-ins", "authorized", "last pulls"]
    rows = [header, *(_row(user) for user in users)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))
    return 0


def _simple(action: Callable[[UserRegistry, argparse.Namespace], None], done: str) -> Handler:
    @_operator_errors
    def handler(args: argparse.Namespace) -> int:
        registry = UserRegistry(_settings(args))
        action(registry, args)
        print(done.format(**vars(args)))
        return 0

    return handler


@_operator_errors
def _cmd_rotate_key(args: argparse.Namespace) -> int:
    result = UserRegistry(_settings(args)).rotate_key()
    print(
        f"re-encrypted {result.tokens_reencrypted} refresh token(s) under the new key "
        f"({result.source})"
    )
    if result.source.startswith("SPOTIFY_ASSETS_TOKEN_KEY"):
        print("now remove the old key(s) from SPOTIFY_ASSETS_TOKEN_KEY, keeping only the first")
    return 0


@_operator_errors
def _cmd_remove(args: argparse.Namespace) -> int:
    settings = _settings(args)
    user_id = check_user_id(args.user_id)
    if not args.yes and not _confirmed(user_id):
        print(
            f"spotify-assets: not removing {user_id!r}: pass --yes to delete the user and all "
            "their data",
            file=sys.stderr,
        )
        return 1
    report = remove_user(settings, user_id, cut_off_readers=args.cut_off_readers)
    for line in report.lines():
        print(line)
    return 0


def _confirmed(user_id: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"Delete {user_id!r}, their raw files and lake rows? Type the id to confirm: ")
    return answer.strip() == user_id


class RemovalReport:
    """What `users remove` deleted, layer by layer."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.registry_row = False
        self.raw_files = self.raw_bytes = 0
        self.lake_rows = self.lake_files = 0
        self.old_files = self.old_snapshots = self.held_files = 0
        self.readers: list[int] = []
        self.inbox_files = self.inbox_bytes = 0
        self.poll_plan = False
        self.report_files = self.report_bytes = 0
        self.catalog_refreshed = False

    def lines(self) -> list[str]:
        who = repr(self.user_id)
        return [
            f"registry: {'removed ' + who if self.registry_row else who + ' was not enrolled'}",
            f"raw: {self.raw_files} file(s), {self.raw_bytes} bytes deleted",
            f"lake: {self.lake_rows} row(s) removed, {self.lake_files} file(s) rewritten; "
            f"{self.old_files} superseded file(s) and {self.old_snapshots} old catalog(s) "
            "deleted",
            *(
                [
                    f"lake: {self.held_files} superseded file(s) are still read by connection(s) "
                    f"opened before the removal (pids {', '.join(map(str, self.readers))}): they "
                    "are deleted when those close (next housekeeping), or now with "
                    "--cut-off-readers"
                ]
                if self.held_files
                else []
            ),
            f"inbox: {self.inbox_files} file(s), {self.inbox_bytes} bytes deleted",
            f"poll plan: {'removed' if self.poll_plan else 'none'}",
            f"reports: {self.report_files} file(s), {self.report_bytes} bytes deleted",
            "catalog: " + ("refreshed" if self.catalog_refreshed else "none yet, nothing to do"),
        ]


def remove_user(
    settings: Settings, user_id: str, *, cut_off_readers: bool = False
) -> RemovalReport:
    """Forget a user: registry row first (no new pulls start), then raw, lake, inbox, reports,
    catalog.

    Each step tolerates a previous partial removal, so re-running completes an interrupted one.
    """
    from spotify_assets.lib.lake import Lake, housekeeping
    from spotify_assets.lib.polling.store import PlanStore
    from spotify_assets.lib.raw import RawStore

    check_user_id(user_id)
    report = RemovalReport(user_id)
    registry = UserRegistry(settings)
    known = registry.get(user_id)
    report.registry_row = registry.remove(user_id)
    report.raw_files, report.raw_bytes = RawStore(settings.raw_dir).remove_user(user_id)
    lake = Lake(settings.lake_dir)
    report.lake_rows, report.lake_files = lake.remove_user_rows(user_id)
    report.inbox_files, report.inbox_bytes = _remove_tree(settings.inbox_dir, user_id)
    report.poll_plan = PlanStore(settings.state_dir).forget(user_id)
    report.report_files, report.report_bytes = _remove_reports(
        settings, registry, known.handle if known else None
    )
    if settings.warehouse_path.exists():
        _refresh_catalog(settings)
        report.catalog_refreshed = True
    # The current catalog no longer lists them: now the superseded files and old catalogs that
    # hold the user go too, not after the grace period (an old catalog a reader still has open
    # after a short wait keeps its files until it closes, unless cut off).
    forgot = housekeeping.forget(
        lake,
        settings.warehouse_path.parent,
        housekeeping.holds_user(user_id),
        wait_s=settings.forget_wait_s,
        cut_off=cut_off_readers,
    )
    report.old_files, report.old_snapshots = forgot.files_removed, forgot.snapshots_dropped
    report.held_files, report.readers = forgot.files_held, forgot.readers
    return report


def _refresh_catalog(settings: Settings) -> None:
    # The Warehouse also recreates the derived views (sql/views/*.sql under defs/); a bare
    # refresh_catalog would drop them.
    from spotify_assets.defs.resources import Warehouse

    Warehouse(settings).publish()


def _remove_reports(
    settings: Settings, registry: UserRegistry, handle: str | None
) -> tuple[int, int]:
    """The user's wrapped reports (`reports/<handle>/`), and any report folder whose handle no
    enrolled user has: a removal interrupted after the registry row went (the handle is then
    unknown) is completed by the next one."""
    root = settings.reports_dir
    if not root.is_dir():
        return 0, 0
    enrolled = {user.handle for user in registry.list()}
    files = size = 0
    for folder in sorted(root.iterdir()):
        if folder.name == handle or (folder.is_dir() and folder.name not in enrolled):
            removed, removed_bytes = _remove_tree(root, folder.name)
            files, size = files + removed, size + removed_bytes
    return files, size


def _remove_tree(root: Path, user_id: str) -> tuple[int, int]:
    """Delete `root/<user_id>` (files, then empty folders) without following symlinks."""
    top = root / user_id
    if not top.is_dir() or top.is_symlink():
        return 0, 0
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(top, topdown=False):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            size += os.lstat(path).st_size
            files += 1
            os.unlink(path)
        os.rmdir(dirpath)
    return files, size


# -- parser --------------------------------------------------------------------------------------


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register `login` and `users ...` on the `spotify-assets` parser."""
    login = subparsers.add_parser(
        "login", help="enroll a Spotify account (authorization code + PKCE in a browser)"
    )
    login.add_argument(
        "--emulator-user",
        metavar="ID",
        help="log in one of the emulator's demo users without a browser",
    )
    login.add_argument(
        "--no-browser", action="store_true", help="print the login URL, do not open a browser"
    )
    login.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the redirect"
    )
    login.set_defaults(func=_cmd_login)

    users = subparsers.add_parser("users", help="list and manage enrolled users")
    actions = users.add_subparsers(dest="users_command", required=True)

    listing = actions.add_parser("list", help="enrolled users, their status and last pulls")
    listing.add_argument("--status", choices=["active", "needs_reauth", "paused"])
    listing.set_defaults(func=_cmd_list)

    for name, help_text, action, done in (
        (
            "pause",
            "stop pulling for a user (keeps their data)",
            lambda r, a: r.pause(a.user_id),
            "paused {user_id}",
        ),
        (
            "resume",
            "resume pulling for a paused user",
            lambda r, a: r.resume(a.user_id),
            "resumed {user_id}",
        ),
    ):
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("user_id", metavar="ID")
        parser.set_defaults(func=_simple(action, done))

    add = actions.add_parser(
        "add",
        help="enroll a listener who only gives an export (no Spotify login; never polled)",
    )
    add.add_argument("user_id", metavar="ID", help="their Spotify user id (or any id you choose)")
    add.add_argument(
        "--timezone", required=True, metavar="TZ", help="IANA name their days are cut in"
    )
    add.add_argument("--name", default="", help="display name (default: the id)")
    add.set_defaults(
        func=_simple(
            lambda r, a: r.add_export_only(a.user_id, a.name, a.timezone),
            "enrolled {user_id} (export only); drop their export into data/inbox/{user_id}/",
        )
    )

    timezone = actions.add_parser("set-timezone", help="the timezone a user's days are cut in")
    timezone.add_argument("user_id", metavar="ID")
    timezone.add_argument("timezone", metavar="TZ", help="IANA name, e.g. Europe/Berlin")
    timezone.set_defaults(
        func=_simple(
            lambda r, a: r.set_timezone(a.user_id, a.timezone),
            "timezone of {user_id} is now {timezone}",
        )
    )

    for name, method, verb in (("opt-in", "opt_in", "on"), ("opt-out", "opt_out", "off")):
        parser = actions.add_parser(name, help=f"turn a user's playlist feature {verb}")
        parser.add_argument("user_id", metavar="ID")
        parser.add_argument("flag", choices=sorted(OPT_IN_FLAGS))
        parser.set_defaults(
            func=_simple(
                lambda r, a, m=method: getattr(r, m)(a.user_id, a.flag),
                f"{{flag}} is {verb} for {{user_id}}",
            )
        )

    remove = actions.add_parser(
        "remove", help="forget a user: registry entry, raw files, lake rows, inbox"
    )
    remove.add_argument("user_id", metavar="ID")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove.add_argument(
        "--cut-off-readers",
        action="store_true",
        help="delete the user's old files even if an analyst's open connection still reads "
        "them (its next query fails); by default they go when it closes",
    )
    remove.set_defaults(func=_cmd_remove)

    rotate = actions.add_parser(
        "rotate-key", help="re-encrypt every stored refresh token under a new key"
    )
    rotate.set_defaults(func=_cmd_rotate_key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spotify-assets")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    return parser


def run(argv: Sequence[str], settings: Settings | None = None) -> int:
    """Parse and run one `login`/`users` command in-process (with explicit settings if given)."""
    args = build_parser().parse_args(list(argv))
    args.settings = settings
    return int(args.func(args) or 0)
