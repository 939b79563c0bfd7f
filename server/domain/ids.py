"""Opaque, roughly time-ordered resource ids: a type prefix and 24 base32 characters."""

from __future__ import annotations

import os
import time
from typing import Final

_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_id(prefix: str) -> str:
    """A new id such as "inv_01jc9x...": 48 bits of milliseconds then 72 random bits.

    The time prefix keeps index inserts local; the random part makes ids unguessable.
    """
    value = (int(time.time() * 1000) << 72) | int.from_bytes(os.urandom(9), "big")
    chars = []
    for _ in range(24):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(chars))}"
