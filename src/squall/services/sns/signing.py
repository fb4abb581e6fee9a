"""The server's SNS signing key and self-signed certificate, and AWS's message signatures.

SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, both PKCS#1 v1.5 over the canonical string:
"Key\\nValue\\n" for each signed field present, in AWS's fixed order.
"""

from __future__ import annotations

import base64
import datetime
import os
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def canonical_string(doc: dict[str, Any]) -> bytes:
    fields = NOTIFICATION_FIELDS if doc["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{k}\n{doc[k]}\n" for k in fields if doc.get(k) is not None).encode()


class Signer:
    """The key pair kept in `directory` (created on first use, 0600; loaded afterwards); signs
    envelopes. Thread-safe (the certificate is served from a worker thread)."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._pair: tuple[rsa.RSAPrivateKey, bytes] | None = None

    def _load(self) -> tuple[rsa.RSAPrivateKey, bytes]:
        with self._lock:
            if self._pair is None:
                self._pair = self._load_or_create()
            return self._pair

    def _load_or_create(self) -> tuple[rsa.RSAPrivateKey, bytes]:
        self._dir.mkdir(parents=True, exist_ok=True)
        key_path, cert_path = self._dir / "signing-key.pem", self._dir / "signing-cert.pem"
        if key_path.exists() and cert_path.exists():
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return key, cert_path.read_bytes()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = _self_signed(key)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(key_path, pem)
        _write(cert_path, cert)
        return key, cert

    @property
    def certificate_pem(self) -> bytes:
        return self._load()[1]

    def sign(self, doc: dict[str, Any]) -> str:
        """Base64 signature of `doc` with its SignatureVersion ("1" or "2")."""
        algorithm = hashes.SHA256() if doc.get("SignatureVersion") == "2" else hashes.SHA1()
        signature = self._load()[0].sign(canonical_string(doc), padding.PKCS1v15(), algorithm)
        return base64.b64encode(signature).decode()


def _self_signed(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Squall"),
            x509.NameAttribute(NameOID.COMMON_NAME, "sns.squall.local"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
