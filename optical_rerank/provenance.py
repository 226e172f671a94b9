"""What produced an output: package versions and platform, recorded next to every run and model."""
from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

_PACKAGES = ("optical_rerank", "torch", "transformers", "sentence-transformers", "pyserini", "POT",
             "pytrec-eval-terrier", "numpy", "tokenizers")


def environment_info() -> dict:
    """Versions of the packages that can change results, Python and the platform."""
    info = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            info[name] = None
    return info
