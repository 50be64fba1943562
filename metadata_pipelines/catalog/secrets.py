"""Encryption at rest for data-source credentials (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from METADATA_PIPELINES_SECRET_KEY (one key, or several separated by commas to rotate:
the first encrypts, all decrypt). The embedded default keeps a key file next to its SQLite catalog,
created with owner-only permissions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from metadata_pipelines.settings import SECRET_KEY_ENV, get_settings


class SecretKeyError(RuntimeError):
    """No usable key, or a key that cannot decrypt what the catalog holds."""


class CredentialCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError(f"no encryption key: set {SECRET_KEY_ENV}")
        try:
            self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{SECRET_KEY_ENV} must hold Fernet keys (32 url-safe base64 bytes); "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None

    def encrypt(self, credentials: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(dict(credentials)).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretKeyError(
                "stored credentials cannot be decrypted with the configured key "
                f"({SECRET_KEY_ENV} changed without keeping the old key?)"
            ) from None

    def __repr__(self) -> str:
        return "CredentialCipher(<keys hidden>)"


def load_cipher(key_file: Path | None = None) -> CredentialCipher:
    """The key from the environment, else from (or newly into) `key_file` when one is given."""
    configured = get_settings().secret_key
    from_env = configured.get_secret_value().strip() if configured else ""
    if from_env:
        return CredentialCipher(from_env.split(","))
    if key_file is None:
        raise SecretKeyError(f"no encryption key: set {SECRET_KEY_ENV}")
    return CredentialCipher([_read_or_create_key_file(key_file)])


def _read_or_create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key
