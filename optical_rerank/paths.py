"""Where the toolkit keeps its cache and finds the data mirror (environment settings)."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "OPTICAL_RERANK_CACHE"
MIRROR_ENV = "OPTICAL_RERANK_MIRROR"


def cache_dir() -> Path:
    """The cache root: ``$OPTICAL_RERANK_CACHE`` or ``~/.cache/optical_rerank``. Created on demand."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "optical_rerank").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def mirror_dir() -> Path | None:
    """The local data mirror (``<owner>/<repo>/<commit>/<path>`` layout) from ``$OPTICAL_RERANK_MIRROR``, if set."""
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser().resolve() if value else None
