"""Shared fixtures. Tests run offline, on CPU, in minutes; the real data mirror is read in place.

Test helpers live beside this file: ``_tiny.make_tiny_bert`` builds a tiny random BERT
cross-encoder offline (``from _tiny import make_tiny_bert``; pytest puts ``tests/`` on the path).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The data mirror: the folder ``$OPTICAL_RERANK_MIRROR`` names (``make test`` sets it)."""
    value = os.environ.get("OPTICAL_RERANK_MIRROR")
    if not value:
        pytest.fail("no data mirror: set OPTICAL_RERANK_MIRROR (make test sets it)")
    path = Path(value)
    if not (path / "MANIFEST.tsv").is_file():
        pytest.fail(f"data mirror not found at {path}: set OPTICAL_RERANK_MIRROR")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own cache unless OPTICAL_RERANK_CACHE is set by the caller."""
    if "OPTICAL_RERANK_TEST_CACHE" not in os.environ:
        os.environ["OPTICAL_RERANK_TEST_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    monkeypatch.setenv("OPTICAL_RERANK_CACHE", os.environ["OPTICAL_RERANK_TEST_CACHE"])


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
