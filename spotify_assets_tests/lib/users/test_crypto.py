"""Token encryption: Fernet round trip, the 0600 key file, env keys and key rotation.

Rotation is driven through the registry (the only holder of stored tokens); the crash-safety
test calls `crypto.rotate_key` with a re-encryption step that fails on purpose.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from spotify_assets.lib.settings import Settings, load_settings
from spotify_assets.lib.users import crypto
from spotify_assets.lib.users.registry import UserRegistry

TOKEN = "AQDtestRefreshToken-0123456789abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJ"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _stored_blobs(registry: UserRegistry) -> dict[str, bytes]:
    con = sqlite3.connect(registry.path)
    try:
        rows = con.execute("select id, encrypted_refresh_token from users").fetchall()
    finally:
        con.close()
    return dict(rows)


def test_round_trip_and_ciphertext_hides_token(user_settings: Settings) -> None:
    cipher = crypto.load_keyring(user_settings).cipher()
    blob = cipher.encrypt("alice", TOKEN)
    assert TOKEN.encode() not in blob
    assert cipher.decrypt("alice", blob) == TOKEN
    # Two encryptions of the same token differ (random IV), so equal tokens are not visible.
    assert cipher.encrypt("alice", TOKEN) != blob


def test_token_bound_to_its_user(user_settings: Settings) -> None:
    cipher = crypto.load_keyring(user_settings).cipher()
    blob = cipher.encrypt("alice", TOKEN)
    with pytest.raises(crypto.TokenDecryptError, match=r"'bob'.*another user") as info:
        cipher.decrypt("bob", blob)
    assert TOKEN not in str(info.value)


def test_key_file_created_private_even_with_permissive_umask(user_settings: Settings) -> None:
    old_umask = os.umask(0)  # a plain open() would now create a world-readable file
    try:
        crypto.load_keyring(user_settings)
    finally:
        os.umask(old_umask)
    path = crypto.key_file_path(user_settings)
    assert _mode(path) == 0o600
    keys = path.read_bytes().split()
    assert len(keys) == 1
    Fernet(keys[0])  # a valid key


def test_key_file_reused_not_regenerated(user_settings: Settings) -> None:
    first = crypto.load_keyring(user_settings).keys
    second = crypto.load_keyring(user_settings).keys
    assert first == second


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_refuses_key_file_others_can_access(user_settings: Settings, mode: int) -> None:
    crypto.load_keyring(user_settings)
    path = crypto.key_file_path(user_settings)
    key = path.read_text().strip()
    path.chmod(mode)
    with pytest.raises(crypto.TokenKeyError) as info:
        crypto.load_keyring(user_settings)
    message = str(info.value)
    assert str(path) in message and f"{mode:04o}" in message and "chmod 600" in message
    assert key not in message


def test_refused_key_file_blocks_token_use(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    crypto.key_file_path(registry.settings).chmod(0o644)
    fresh = UserRegistry(registry.settings)  # no cached key
    with pytest.raises(crypto.TokenKeyError, match="chmod 600"):
        fresh.get_refresh_token("alice")


def test_env_key_used_and_no_file_written(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(data_dir=tmp_path, token_key=key)
    registry = UserRegistry(settings)
    registry.enroll("alice", "Alice", TOKEN)
    assert not crypto.key_file_path(settings).exists()
    blob = _stored_blobs(registry)["alice"]
    assert Fernet(key.encode()).decrypt(blob).endswith(TOKEN.encode())


def test_malformed_env_key_error_does_not_echo_it(tmp_path: Path) -> None:
    bad = "not-a-fernet-key-but-maybe-a-secret"
    settings = load_settings(data_dir=tmp_path, token_key=bad)
    with pytest.raises(crypto.TokenKeyError, match="SPOTIFY_ASSETS_TOKEN_KEY") as info:
        crypto.load_keyring(settings)
    assert bad not in str(info.value)


def test_missing_key_file_with_stored_tokens_is_not_silently_replaced(
    registry: UserRegistry,
) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    crypto.key_file_path(registry.settings).unlink()
    fresh = UserRegistry(registry.settings)
    with pytest.raises(crypto.TokenKeyError, match="missing"):
        fresh.get_refresh_token("alice")
    with pytest.raises(crypto.TokenKeyError, match="missing"):
        fresh.save_refresh_token("alice", "another-token-value")
    assert not crypto.key_file_path(registry.settings).exists()


def test_rotation_keeps_tokens_readable_and_old_key_stops_working(
    registry: UserRegistry,
) -> None:
    tokens = {f"user{i}": f"{TOKEN}-{i}" for i in range(3)}
    for user_id, token in tokens.items():
        registry.enroll(user_id, user_id.title(), token)
    path = crypto.key_file_path(registry.settings)
    old_key = path.read_bytes().strip()
    old_blobs = _stored_blobs(registry)

    result = registry.rotate_key()

    assert result.tokens_reencrypted == 3
    new_keys = path.read_bytes().split()
    assert len(new_keys) == 1 and new_keys[0] != old_key
    assert _mode(path) == 0o600
    new_blobs = _stored_blobs(registry)
    for user_id, token in tokens.items():
        assert new_blobs[user_id] != old_blobs[user_id]
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(new_blobs[user_id])
        assert registry.get_refresh_token(user_id) == token
        # A second registry (another process) with no cached key reads them too.
        assert UserRegistry(registry.settings).get_refresh_token(user_id) == token


def test_rotation_seen_by_a_registry_holding_the_old_key(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    other = UserRegistry(registry.settings)
    assert other.get_refresh_token("alice") == TOKEN  # caches the old key
    registry.rotate_key()
    assert other.get_refresh_token("alice") == TOKEN
    other.save_refresh_token("alice", TOKEN + "-rotated")
    assert registry.get_refresh_token("alice") == TOKEN + "-rotated"


def test_rotation_failing_midway_loses_nothing(registry: UserRegistry) -> None:
    registry.enroll("alice", "Alice", TOKEN)
    path = crypto.key_file_path(registry.settings)
    old_key = path.read_bytes().strip()

    def crash(cipher: crypto.TokenCipher) -> int:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        crypto.rotate_key(registry.settings, crash)
    keys = path.read_bytes().split()
    assert old_key in keys  # the old key is still there to read the untouched tokens
    assert UserRegistry(registry.settings).get_refresh_token("alice") == TOKEN
    # A later rotation completes and drops both the old and the half-introduced key.
    registry.rotate_key()
    assert len(path.read_bytes().split()) == 1
    assert UserRegistry(registry.settings).get_refresh_token("alice") == TOKEN


def test_env_rotation_needs_new_key_first(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    registry = UserRegistry(load_settings(data_dir=tmp_path, token_key=old))
    registry.enroll("alice", "Alice", TOKEN)
    with pytest.raises(crypto.TokenKeyError, match="<new key>,<old key>"):
        registry.rotate_key()

    both = UserRegistry(load_settings(data_dir=tmp_path, token_key=f"{new},{old}"))
    assert both.rotate_key().tokens_reencrypted == 1
    only_new = UserRegistry(load_settings(data_dir=tmp_path, token_key=new))
    assert only_new.get_refresh_token("alice") == TOKEN
    only_old = UserRegistry(load_settings(data_dir=tmp_path, token_key=old))
    with pytest.raises(crypto.TokenDecryptError, match="'alice'"):
        only_old.get_refresh_token("alice")


def test_reprs_hide_keys(user_settings: Settings) -> None:
    ring = crypto.load_keyring(user_settings)
    text = repr(ring) + repr(ring.cipher())
    for key in ring.keys:
        assert key.decode() not in text
