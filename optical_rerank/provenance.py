"""What produced an output: package versions and platform, recorded next to every run and model."""
from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

_PACKAGES = ("optical_rerank", "torch", "transformers", "sentence-transformers", "pyserini", "POT",
             "pytrec-eval-terrier", "numpy", "tokenizers")


def package_versions(names, missing=None) -> dict:
    """``{name: installed version}`` of the distributions ``names`` (``missing`` for one not installed)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = missing
    return out


def environment_info() -> dict:
    """Versions of the packages that can change results, Python and the platform."""
    return {"python": sys.version.split()[0], "platform": platform.platform(), **package_versions(_PACKAGES)}
