"""Secrets at rest and API key hashing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

API_KEY_PREFIX = "sk-ws-"
#: Characters of the key shown in listings so people can tell their keys apart.
VISIBLE_PREFIX_LEN = len(API_KEY_PREFIX) + 6


class SecretBox:
    """Symmetric encryption for upstream API keys (Fernet: AES-128-CBC + HMAC-SHA256).

    The Fernet key is derived from the application secret, so one secret configures everything.
    """

    def __init__(self, app_secret: str) -> None:
        digest = hashlib.sha256(b"waystation/secretbox/v1:" + app_secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # wrong WAYSTATION_SECRET_KEY or tampered row
            raise ValueError("cannot decrypt secret: the application secret key has changed") from exc


def new_api_key() -> str:
    """A fresh customer API key: 'sk-ws-' + 43 url-safe characters (256 bits)."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Keys carry 256 bits of entropy, so a plain SHA-256 is a safe, fast lookup hash (the hot
    path computes it on every request); slow password hashes are for low-entropy secrets."""
    return hashlib.sha256(key.encode()).hexdigest()


def visible_prefix(key: str) -> str:
    return key[:VISIBLE_PREFIX_LEN]


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
