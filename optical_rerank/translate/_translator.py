"""Word-by-word translation of a question with a dictionary and an IBM-1 table."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._ibm1 import WordTable
from ._tokens import tokenize


class WordTranslator:
    """Translate a question word by word into English.

    At each position the longest dictionary headword (up to ``max_phrase`` words) that matches
    gives its gloss; every word also gives its best IBM-1 translation (seen at least
    ``min_count`` times in the bitext); a word that neither the dictionary (as part of a phrase)
    nor the table knows is kept as written (names, numbers). The output is space-joined tokens.
    """

    def __init__(self, table: WordTable | None = None, dictionary: Mapping[str, Sequence[str]] | None = None,
                 *, min_count: int = 1, max_phrase: int = 3):
        self.table = table
        self.dictionary = dict(dictionary or {})
        self.min_count = min_count
        self.max_phrase = max_phrase

    def translate_tokens(self, tokens: Sequence[str]) -> list[str]:
        out: list[str] = []
        covered = [False] * len(tokens)
        i = 0
        while i < len(tokens) and self.dictionary:
            for n in range(min(self.max_phrase, len(tokens) - i), 0, -1):
                gloss = self.dictionary.get(" ".join(tokens[i:i + n]))
                if gloss:
                    out.extend(gloss)
                    covered[i:i + n] = [True] * n
                    i += n
                    break
            else:
                i += 1
        for j, tok in enumerate(tokens):
            best = self.table.best(tok, self.min_count) if self.table is not None else None
            if best is not None:
                out.append(best)
            elif not covered[j]:
                out.append(tok)
        return out

    def translate(self, text: str) -> str:
        """The English word sequence of ``text`` (dictionary glosses first, then word by word)."""
        return " ".join(self.translate_tokens(tokenize(text)))
