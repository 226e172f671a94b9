"""Tokenisation shared by the IBM-1 table, the dictionary and the translator."""
from __future__ import annotations

import re
import unicodedata

# a word: letters/digits (\w without "_") and combining marks (U+0300–U+036F: Yorùbá tone marks
# written as combining characters), with inner apostrophes (Hausa 'y, English don't)
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+(?:['’](?:[^\W_]|[\u0300-\u036f])+)*")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens of NFC-normalised ``text`` (punctuation dropped, ’ read as ')."""
    norm = unicodedata.normalize("NFC", text).lower()
    return [t.replace("’", "'") for t in _WORD.findall(norm)]
