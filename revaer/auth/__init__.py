"""Credentials: argon2id hashing of tokens and keys, encryption of named secrets."""

from revaer.auth._hashing import generate_secret, hash_secret, verify_secret
from revaer.auth._secretbox import SealedSecret, SecretBox

__all__ = ["SealedSecret", "SecretBox", "generate_secret", "hash_secret", "verify_secret"]
