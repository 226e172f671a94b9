"""Word-by-word query translation from what OPTICAL itself gets (the translation baseline of issue 14).

* :func:`tokenize`: lowercased, NFC-normalised word tokens (letters, digits and combining marks,
  so Yorùbá tone marks and Hausa hooked letters stay inside their word).
* :func:`train_ibm1`: IBM Model 1 (Brown et al., 1993) by EM on bitext pairs, the English side
  generated from the foreign side plus a NULL word; :class:`WordTable` keeps the best English
  words of each foreign word with ``t(e|f)``, saved as JSON.
* :func:`load_freedict`: a FreeDict dictionary installed by Debian (``dict-freedict-swh-eng`` for
  Swahili: ``/usr/share/dictd/freedict-swh-eng.{index,dict.dz}``); a missing package is a
  :class:`~optical_rerank.errors.ConfigError` naming it.
* :class:`WordTranslator`: each token of a native question becomes its dictionary gloss (longest
  dictionary headword first, when a dictionary is given) and its best IBM-1 translation; a word
  neither knows is kept as written (names, numbers).

The bitext is the students' (``data prepare bitext``), whose leakage guard removes every
evaluation question; nothing here reads a test question except to translate it.

Where things live: ``_tokens``, ``_ibm1``, ``_freedict``, ``_translator``.
"""
from __future__ import annotations

from ._freedict import FREEDICT, freedict_paths, load_freedict, read_freedict
from ._ibm1 import WordTable, read_bitext_pairs, train_ibm1
from ._tokens import tokenize
from ._translator import WordTranslator

__all__ = ["FREEDICT", "WordTable", "WordTranslator", "freedict_paths", "load_freedict", "read_bitext_pairs",
           "read_freedict", "tokenize", "train_ibm1"]
