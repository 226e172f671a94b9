"""Exceptions raised by optical_rerank. Every user-facing error is one of these."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


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


def config_fields(cls: type, obj: object, required: Sequence[str] = ()) -> dict[str, Any]:
    """``obj`` as keyword arguments of the config dataclass ``cls``, checked.

    Raises
    ------
    ConfigError
        Naming the class: ``obj`` is not a mapping, has a key that is not a field (typos must not
        be silently ignored), or lacks one of ``required``.
    """
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{cls.__name__}: expected a JSON object, got {type(obj).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}; known: {sorted(names)}")
    missing = [n for n in required if n not in obj]
    if missing:
        raise ConfigError(f"{cls.__name__}: field(s) {missing} are required")
    return dict(obj)
