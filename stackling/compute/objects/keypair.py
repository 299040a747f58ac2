"""Key pairs: generation (RSA 2048 ssh keys, x509 certificates), fingerprints and rows.

Nova generates with paramiko and openssl (``nova/crypto.py``); ``cryptography`` produces
the same formats here: a traditional PEM RSA private key and ``ssh-rsa ... Generated-by-Nova``
for ssh, a self-signed certificate with ``CN=<user_id>`` and a base64 PKCS#12 for x509.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from stackling import exception
from stackling.db.models_compute import KeyPair


class InvalidKeypair(exception.BadRequest):
    msg_fmt = "Keypair data is invalid: %(reason)s"


class KeyPairExists(exception.Conflict):
    msg_fmt = "Key pair '%(key_name)s' already exists."


class KeypairNotFound(exception.NotFound):
    msg_fmt = "Keypair %(name)s not found for user %(user_id)s"


class KeypairLimitExceeded(exception.Forbidden):
    msg_fmt = "Quota exceeded, too many key pairs."


def _colons(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2))


def ssh_fingerprint(public_key: str) -> str:
    """MD5 of the key blob, as Nova shows it."""
    try:
        serialization.load_ssh_public_key(public_key.encode())
        blob = base64.b64decode(public_key.split(" ")[1])
    except Exception:
        raise InvalidKeypair(reason="failed to generate fingerprint") from None
    return _colons(hashlib.md5(blob, usedforsecurity=False).hexdigest())


def x509_fingerprint(pem: str) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError) as exc:
        raise InvalidKeypair(reason=f"failed to generate X509 fingerprint. Error message: "
                                    f"{exc}") from None
    return _colons(cert.fingerprint(hashes.SHA1()).hex())  # noqa: S303 - Nova's choice


def fingerprint(public_key: str, key_type: str) -> str:
    return ssh_fingerprint(public_key) if key_type == "ssh" else x509_fingerprint(public_key)


def generate(key_type: str, user_id: str) -> tuple[str, str]:
    """(private key, public key or certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ssh":
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
        blob = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH).decode()
        return private, f"{blob} Generated-by-Nova"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(key, hashes.SHA256()))
    bundle = pkcs12.serialize_key_and_certificates(None, key, cert, None,
                                                   serialization.NoEncryption())
    return base64.b64encode(bundle).decode(), cert.public_bytes(
        serialization.Encoding.PEM).decode()


def get(s: Session, user_id: str, name: str) -> KeyPair:
    row = s.scalar(select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name))
    if row is None:
        raise KeypairNotFound(name=name, user_id=user_id)
    return row


def add(s: Session, user_id: str, name: str, key_type: str, public_key: str, limit: int
        ) -> KeyPair:
    count = s.scalar(select(func.count()).select_from(KeyPair)
                     .where(KeyPair.user_id == user_id)) or 0
    if 0 <= limit <= count:
        raise KeypairLimitExceeded()
    if s.scalar(select(KeyPair.id).where(KeyPair.user_id == user_id, KeyPair.name == name)):
        raise KeyPairExists(key_name=name)
    row = KeyPair(user_id=user_id, name=name, type=key_type, public_key=public_key,
                  fingerprint=fingerprint(public_key, key_type))
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise KeyPairExists(key_name=name) from None
    return row
