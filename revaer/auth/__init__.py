"""Credentials: argon2id hashing of tokens and keys, encryption of named secrets."""

from revaer.auth._hashing import decoy_hash, generate_secret, hash_secret, verify_secret
from revaer.auth._secretbox import SealedSecret, SecretBox

__all__ = [
    "SealedSecret",
    "SecretBox",
    "decoy_hash",
    "generate_secret",
    "hash_secret",
    "verify_secret",
]
