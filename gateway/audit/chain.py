"""The hash chain and signed checkpoints.

Every line of a segment is one JSON object with ``seq`` (its position in this
replica's chain), ``prev`` (the ``hash`` of the line before it, across segment
boundaries; :data:`GENESIS` for the very first) and ``hash``: SHA-256 over the
*canonical* serialisation of the line without ``hash`` — orjson with sorted
keys. A line is written as that canonical text with ``"hash"`` appended as the
last key, so one serialisation serves both purposes.

Checkpoints are lines of ``"type": "checkpoint"`` whose ``sig`` signs the
canonical text of the checkpoint without ``sig`` and ``hash`` (which includes
``prev``, the head of the chain at that point). With HMAC-SHA256 the verifier
needs the same key; with Ed25519 only the public key, so auditors can verify
without being able to forge.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64


def canonical(line: dict[str, Any], *, without: tuple[str, ...] = ("hash",)) -> bytes:
    return orjson.dumps({k: v for k, v in line.items() if k not in without}, option=orjson.OPT_SORT_KEYS)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fingerprint(material: bytes) -> str:
    # Names the key in every checkpoint without revealing anything usable about it.
    return hashlib.sha256(b"gateway-audit-key:" + material).hexdigest()[:16]


class Signer(Protocol):
    alg: str
    key_id: str

    def sign(self, data: bytes) -> str: ...


class NoSigner:
    alg = "none"
    key_id = ""

    def sign(self, data: bytes) -> str:
        return ""


class HmacSigner:
    alg = "hmac-sha256"

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self.key_id = _fingerprint(self._key)

    def sign(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def verify(self, data: bytes, sig: str) -> bool:
        return hmac.compare_digest(self.sign(data), sig)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Ed25519Signer:
    alg = "ed25519"

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.key_id = _fingerprint(_raw_public(key.public_key()))

    def sign(self, data: bytes) -> str:
        return self._key.sign(data).hex()


class Ed25519Verifier:
    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.key_id = _fingerprint(_raw_public(key))

    def verify(self, data: bytes, sig: str) -> bool:
        try:
            self._key.verify(bytes.fromhex(sig), data)
        except (InvalidSignature, ValueError):
            return False
        return True


def _load_pem(path: str) -> Ed25519PrivateKey | Ed25519PublicKey:
    data = Path(path).read_bytes()
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return private
    public = serialization.load_pem_public_key(data)
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return public


def make_signer(hmac_key: str, ed25519_key_file: str) -> Signer:
    """Ed25519 when a key file is configured, else HMAC when a key is set, else unsigned."""
    if ed25519_key_file:
        key = _load_pem(ed25519_key_file)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{ed25519_key_file}: signing needs the private key")
        return Ed25519Signer(key)
    if hmac_key:
        return HmacSigner(hmac_key)
    return NoSigner()


def generate_ed25519(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (private file readable by its owner only); returns the key id."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    private_path.touch(mode=0o600, exist_ok=False)
    private_path.write_bytes(private)
    public_path.write_bytes(public)
    return Ed25519Signer(key).key_id


@dataclass(slots=True)
class Verifiers:
    """The keys a verifier holds; a checkpoint signed by another key counts as unchecked."""

    hmac: HmacSigner | None = None
    ed25519: Ed25519Verifier | None = None

    @classmethod
    def load(cls, hmac_key: str = "", ed25519_key_file: str = "") -> Verifiers:
        verifiers = cls(hmac=HmacSigner(hmac_key) if hmac_key else None)
        if ed25519_key_file:
            key = _load_pem(ed25519_key_file)
            public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
            verifiers.ed25519 = Ed25519Verifier(public)
        return verifiers

    def check(self, checkpoint: dict[str, Any]) -> bool | None:
        """True or False for a signature this verifier can check; None when it holds no such key."""
        alg, key_id, sig = checkpoint.get("alg"), checkpoint.get("key_id"), checkpoint.get("sig")
        if not isinstance(sig, str):
            return False
        data = canonical(checkpoint, without=("hash", "sig"))
        if alg == "hmac-sha256" and self.hmac is not None and self.hmac.key_id == key_id:
            return self.hmac.verify(data, sig)
        if alg == "ed25519" and self.ed25519 is not None and self.ed25519.key_id == key_id:
            return self.ed25519.verify(data, sig)
        return None


class Chain:
    """The running head of one replica's chain; used by the writer thread only."""

    def __init__(self, prev: str = GENESIS, seq: int = 0) -> None:
        self.prev = prev
        self.seq = seq

    def seal(self, line: dict[str, Any], signer: Signer | None = None) -> bytes:
        """Link ``line`` to the chain (and sign it, for a checkpoint); returns the bytes to write."""
        line["seq"] = self.seq + 1
        line["prev"] = self.prev
        if signer is not None:
            line["alg"], line["key_id"] = signer.alg, signer.key_id
            line["sig"] = signer.sign(canonical(line, without=("hash", "sig")))
        body = orjson.dumps(line, option=orjson.OPT_SORT_KEYS)
        line_hash = digest(body)
        self.seq += 1
        self.prev = line_hash
        return body[:-1] + b',"hash":"' + line_hash.encode() + b'"}\n'
