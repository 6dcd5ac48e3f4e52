"""Refresh tokens encrypted at rest: Fernet keys from the environment or a 0600 key file.

Key sources, in order:
1. `SPOTIFY_ASSETS_TOKEN_KEY`: one Fernet key, or several separated by commas (the first
   encrypts, all decrypt), so an operator can rotate an environment key in two steps.
2. The key file `<state_dir>/token.key`: one key per line, the first one primary. It is created
   on first use with mode 0600 and refused when group or others may read or write it.

Rotation (`rotate_key`) for the key file: the new key is written in front of the old one, every
stored token is re-encrypted in one transaction, and only then is the old key dropped. A crash at
any step leaves every token readable with what is on disk.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from spotify_assets.lib.atomic import atomic_path

if TYPE_CHECKING:
    from spotify_assets.lib.settings import Settings

KEY_FILE_NAME = "token.key"
ENV_VAR = "SPOTIFY_ASSETS_TOKEN_KEY"
# The user id is sealed into the ciphertext: a token copied onto another user's row is refused
# instead of silently authorizing the wrong account.
_SEPARATOR = "\x00"


class TokenKeyError(RuntimeError):
    """The token key is missing, malformed or unsafe; the message says where and how to fix it."""


class TokenDecryptError(RuntimeError):
    """A stored token cannot be decrypted with the configured keys (never includes the token)."""


@dataclass(frozen=True)
class KeyRing:
    """The Fernet keys in use: `keys[0]` encrypts, every key decrypts."""

    keys: tuple[bytes, ...]
    source: str  # "SPOTIFY_ASSETS_TOKEN_KEY" or the key file path, for error messages

    def __repr__(self) -> str:
        return f"KeyRing(source={self.source!r}, keys=<{len(self.keys)} hidden>)"

    def cipher(self) -> TokenCipher:
        return TokenCipher(self)


class TokenCipher:
    """Encrypts and decrypts refresh tokens bound to their user id."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._fernet = MultiFernet([Fernet(key) for key in ring.keys])

    def __repr__(self) -> str:
        return f"TokenCipher(source={self._ring.source!r})"

    def encrypt(self, user_id: str, token: str) -> bytes:
        if not token:
            raise ValueError(f"empty refresh token for user {user_id!r}")
        return self._fernet.encrypt(f"{user_id}{_SEPARATOR}{token}".encode())

    def decrypt(self, user_id: str, blob: bytes) -> str:
        try:
            plain = self._fernet.decrypt(blob).decode()
        except InvalidToken:
            raise TokenDecryptError(
                f"the stored refresh token of user {user_id!r} cannot be decrypted with the "
                f"key(s) from {self._ring.source}: restore the key it was encrypted with, or "
                f"have the user log in again (spotify-assets login)"
            ) from None
        owner, _, token = plain.partition(_SEPARATOR)
        if owner != user_id:
            raise TokenDecryptError(
                f"the stored refresh token of user {user_id!r} belongs to another user; "
                "have the user log in again (spotify-assets login)"
            )
        return token

    def rotate(self, blob: bytes) -> bytes:
        """Re-encrypt under the primary key (raises InvalidToken if no key opens it)."""
        return self._fernet.rotate(blob)


def key_file_path(settings: Settings) -> Path:
    return settings.state_dir / KEY_FILE_NAME


def _parse_keys(text: str, source: str, separator: str) -> tuple[bytes, ...]:
    keys = tuple(part.strip().encode() for part in text.split(separator) if part.strip())
    if not keys:
        raise TokenKeyError(f"{source} holds no Fernet key")
    for index, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            # Never echo the value: it is (or is close to) a secret.
            raise TokenKeyError(
                f"key #{index} in {source} is not a Fernet key (32 url-safe base64-encoded "
                'bytes); generate one with: python -c "from cryptography.fernet import '
                'Fernet; print(Fernet.generate_key().decode())"'
            ) from None
    return keys


def _check_private(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise TokenKeyError(f"token key file {path} is not a regular file")
    if stat.S_IMODE(mode) & 0o077:
        raise TokenKeyError(
            f"token key file {path} has mode {stat.S_IMODE(mode):04o}: group or others may "
            f"access it, so it is refused; make it private with: chmod 600 {path}"
        )


def _read_key_file(path: Path) -> tuple[bytes, ...]:
    fd = os.open(path, os.O_RDONLY)
    try:
        # fstat on the opened descriptor: the checked file is the file that is read.
        _check_private(path, os.fstat(fd).st_mode)
        with os.fdopen(fd, "r", encoding="ascii", closefd=False) as handle:
            text = handle.read()
    finally:
        os.close(fd)
    return _parse_keys(text, f"token key file {path}", "\n")


def _create_key_file(path: Path) -> None:
    """Create the key file with a fresh key; O_EXCL so two first runs cannot both create it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, Fernet.generate_key() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_key_file(path: Path, keys: Sequence[bytes]) -> None:
    """Replace the key file atomically; the temp file is 0600 from its first byte."""
    with atomic_path(path) as tmp:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"".join(key + b"\n" for key in keys))
        finally:
            os.close(fd)


def env_keys(settings: Settings) -> tuple[bytes, ...] | None:
    if settings.token_key is None or not settings.token_key.get_secret_value().strip():
        return None
    return _parse_keys(settings.token_key.get_secret_value(), ENV_VAR, ",")


def load_keyring(settings: Settings, *, create: bool = True) -> KeyRing:
    """The keys to use: from the environment, else the key file (created if `create`)."""
    from_env = env_keys(settings)
    if from_env is not None:
        return KeyRing(from_env, ENV_VAR)
    path = key_file_path(settings)
    if not path.exists():
        if not create:
            raise TokenKeyError(
                f"token key file {path} is missing but encrypted tokens are stored: restore "
                f"the key file (or set {ENV_VAR}), or remove the users and enroll them again"
            )
        _create_key_file(path)
    return KeyRing(_read_key_file(path), f"token key file {path}")


@dataclass(frozen=True)
class RotationResult:
    tokens_reencrypted: int
    source: str


def rotate_key(settings: Settings, reencrypt: Callable[[TokenCipher], int]) -> RotationResult:
    """Move every stored token to a new primary key and drop the old key(s).

    `reencrypt(cipher)` must re-encrypt every stored token with `cipher.rotate` in one
    transaction and return how many it rewrote. With an environment key the new key cannot be
    written by us: the operator puts it first in SPOTIFY_ASSETS_TOKEN_KEY, and this re-encrypts.
    """
    from_env = env_keys(settings)
    if from_env is not None:
        return _rotate_env(from_env, reencrypt)
    path = key_file_path(settings)
    old = load_keyring(settings).keys
    new = Fernet.generate_key()
    # Old keys stay on disk until the tokens are re-encrypted: a crash before the commit leaves
    # tokens under the old key, a crash after it leaves them under the new one, both readable.
    _write_key_file(path, (new, *old))
    count = reencrypt(KeyRing((new, *old), str(path)).cipher())
    _write_key_file(path, (new,))
    return RotationResult(count, f"token key file {path}")


def _rotate_env(keys: tuple[bytes, ...], reencrypt: Callable[[TokenCipher], int]) -> RotationResult:
    if len(keys) < 2:
        raise TokenKeyError(
            f"the token key comes from {ENV_VAR}, which cannot be rewritten from here. To "
            f"rotate: generate a key, set {ENV_VAR}=<new key>,<old key>, run "
            f"`spotify-assets users rotate-key`, then set {ENV_VAR}=<new key>"
        )
    count = reencrypt(KeyRing(keys, ENV_VAR).cipher())
    return RotationResult(count, ENV_VAR)
