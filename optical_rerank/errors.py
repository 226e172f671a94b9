"""Exceptions raised by optical_rerank. Every user-facing error is one of these."""
from __future__ import annotations

from pathlib import Path


class OpticalRerankError(Exception):
    """Base class of every error the toolkit raises on purpose."""


class InputFormatError(OpticalRerankError, ValueError):
    """A user file is malformed. The message names the file and, when known, the line.

    Parameters
    ----------
    path : path of the offending file (or a description such as ``"<stdin>"``).
    line : 1-based line number, or ``None`` when the error concerns the whole file.
    message : what is wrong and, where possible, how to fix it.
    """

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class ConfigError(OpticalRerankError, ValueError):
    """An option or configuration value is invalid (unknown language, bad k, ...)."""


class DataSourceError(OpticalRerankError):
    """A pinned data file is missing, unreachable or fails its sha256 check."""


class ModelError(OpticalRerankError):
    """A model directory is missing files, or is not in a safe format."""


class JavaSetupError(OpticalRerankError):
    """Java or Pyserini cannot be set up (no Java >= 21, missing fatjar, ...)."""


class NumericalError(OpticalRerankError, FloatingPointError):
    """NaN or Inf detected in a computation; the message names the batch and the knob to turn."""

