"""Building, fingerprinting and comparing the stage configs (frozen dataclasses).

- :func:`from_dict` builds a config from a mapping (a JSON record, a YAML block), checked: an
  unknown key (a typo), a missing required key or a non-mapping is a :class:`ConfigError`
  naming the class and the key, never a ``TypeError`` traceback.
- :func:`from_args` builds one from an ``argparse`` namespace (fields read from the attributes
  of the same name), through the same checks.
- :func:`fingerprint` is the sha256 of a config's identity as canonical JSON;
  :func:`config_diff` says which keys differ between two recorded configs.
- :func:`command_line` is the shell-quoted command that made an output (first line of reports,
  ``command`` of records).
- :class:`JsonConfig` gives a stage config its JSON text, atomic ``save``, checked ``from_json``
  and ``load`` (one implementation for :class:`~optical_rerank.rerank.RerankConfig` and
  :class:`~optical_rerank.distill.DistillConfig`).
- :func:`read_config_file` reads a YAML or JSON config file strictly (UTF-8 only: UTF-16 and
  binary files are refused; invalid syntax and a key given twice are errors naming the line) and
  :func:`load_config_file` builds a config from it, so that any :class:`ConfigError` the checks
  raise names the file, the line and the key (``configs/x.yaml:7: depth must be ...``).
- The value checks of the configs' ``__post_init__``: :func:`checker` (a ``need(cond, msg)``
  raising :class:`ConfigError` prefixed with the class name), :func:`is_int`, :func:`is_number`,
  :func:`is_device` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError
from .files import json_text, sha256_json, write_json_atomic

__all__ = ["read_config_file", "load_config_file", "ConfigFile", "from_dict", "from_args", "config_fields", "fingerprint", "config_diff", "command_line", "JsonConfig",
           "checker", "is_int", "is_number", "is_device", "DEVICE_PATTERN"]

T = TypeVar("T")


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


def _tuple_fields(cls: type) -> set[str]:
    """Names of the fields of ``cls`` declared as tuples (JSON and YAML give lists for them)."""
    out = set()
    for f in dataclasses.fields(cls):
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        if kind.replace(" ", "").startswith(("tuple", "Tuple")) or isinstance(f.default, tuple):
            out.add(f.name)
    return out


def from_dict(cls: type[T], obj: object, required: Sequence[str] = ()) -> T:
    """A ``cls`` instance from the mapping ``obj`` (missing keys take the defaults).

    Lists given for tuple fields become tuples. Raises :class:`ConfigError` naming ``cls`` and
    the key for a non-mapping, an unknown key or a missing ``required`` key, and for values the
    dataclass itself rejects with a ``TypeError``.
    """
    fields = config_fields(cls, obj, required)
    for name in _tuple_fields(cls) & set(fields):
        if isinstance(fields[name], list):
            fields[name] = tuple(fields[name])
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from None


def from_args(cls: type[T], namespace: argparse.Namespace, required: Sequence[str] = (), **overrides: Any) -> T:
    """A ``cls`` instance from the ``argparse`` attributes named like its fields, plus ``overrides``.

    Attributes that are not fields are ignored (``command``, ``out``, ...); fields without an
    attribute take their defaults. ``overrides`` win over the namespace (for options whose
    meaning is inverted on the command line, e.g. ``--no-progress``). Checked by :func:`from_dict`.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(namespace).items() if k in names}
    values.update(overrides)
    return from_dict(cls, values, required)


def _identity(cfg: object) -> Any:
    if hasattr(cfg, "identity"):
        return cfg.identity()
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return dataclasses.asdict(cfg)
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise TypeError(f"fingerprint: expected a config dataclass or a mapping, got {type(cfg).__name__}")


def fingerprint(cfg: object) -> str:
    """sha256 (hex) of a config's identity as canonical JSON.

    The identity is ``cfg.identity()`` when the config has one, else its fields
    (``dataclasses.asdict``), or the mapping itself; the JSON is key-sorted and compact
    (:func:`optical_rerank.files.sha256_json`).
    """
    return sha256_json(_identity(cfg))


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any], empty: str = "") -> str:
    """``"key: old -> new, ..."`` over the keys whose values differ (sorted); ``empty`` if none."""
    keys = sorted(set(old) | set(new))
    return ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)) or empty


def _relative_exe(exe: str) -> str:
    try:
        rel = os.path.relpath(exe)
    except ValueError:
        return exe
    return exe if rel.startswith("..") else rel


def command_line(argv: Sequence[str] | None, module: str | None = None, *, python: str | None = None) -> str:
    """The command that made an output, as one shell-quoted line.

    Parameters
    ----------
    argv : the arguments after the module name. ``None``: the process's own command line
        (``sys.orig_argv``, falling back to ``module`` with no arguments).
    module : the module run with ``-m`` (e.g. ``"optical_rerank.bench"``).
    python : the interpreter word to print (e.g. ``"python"``); default ``sys.executable``,
        made relative when it lies below the working directory.
    """
    if argv is None and getattr(sys, "orig_argv", None):
        words = list(sys.orig_argv)
        words[0] = python or _relative_exe(words[0])
    else:
        exe = python or _relative_exe(sys.executable or "python")
        words = [exe, *(["-m", module] if module else []), *(argv or [])]
    return shlex.join(words)


# --------------------------------------------------------------------------- config files
@dataclasses.dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: ``data`` and the line (1-based) of every key, by dotted path."""

    path: Path
    data: Any
    lines: Mapping[str, int]

    def locate(self, message: str) -> str:
        """``message`` prefixed with ``path:line:`` of the key it names (``path:`` when none is found).

        The key is the longest dotted key path of the file that ``message`` starts with (the
        checks phrase their errors as ``"<key> must be ..."`` or ``"<key>: ..."``), refined by a
        child key the message names (``"students.kd: DistillConfig: lr must be ..."``).
        """
        best = ""
        for key in self.lines:
            if len(key) > len(best) and re.match(re.escape(key) + r"(?![\w.\[])", message):
                best = key
        if best:
            rest = message[len(best):]
            for key in self.lines:
                if key.startswith(best + ".") and "." not in key[len(best) + 1:]:
                    if re.search(r"(?<![\w.])" + re.escape(key[len(best) + 1:]) + r"(?![\w.])", rest):
                        best = key
                        break
        else:  # "Class: field ..." / "unknown field(s) ['x']": the first top-level key the message names
            for key in sorted((k for k in self.lines if "." not in k), key=len, reverse=True):
                if re.search(r"(?<![\w.])'?" + re.escape(key) + r"'?(?![\w.])", message):
                    best = key
                    break
        line = self.lines.get(best)
        return f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}"


def _decode_config(p: Path, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{p}: UTF-16/32 text is not supported; save the config as UTF-8")
    if b"\0" in raw:
        raise ConfigError(f"{p}: binary content (NUL bytes; UTF-16 without a BOM?), not a YAML/JSON config; "
                          "save the config as UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{p}:{line}: invalid UTF-8 (byte {exc.start}); save the config as UTF-8") from None
    return text.removeprefix("\ufeff")


def _yaml_lines(node: Any, prefix: str, out: dict[str, int], p: Path) -> None:
    """Record the line of every mapping key below ``node``; refuse a key given twice."""
    import yaml  # heavy

    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for knode, vnode in node.value:
            key = knode.value
            line = knode.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{p}:{line}: key {prefix}{key!s} is given twice (first on line {seen[key]}); "
                                  "keep one")
            seen[key] = line
            out.setdefault(f"{prefix}{key}", line)
            _yaml_lines(vnode, f"{prefix}{key}.", out, p)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _yaml_lines(item, f"{prefix.rstrip('.')}[{i}].", out, p)


def read_config_file(path: str | Path, what: str = "config") -> ConfigFile:
    """Read a YAML (``.yaml``/``.yml``) or JSON config file strictly.

    Raises
    ------
    ConfigError
        Naming the file (and the line where there is one): a missing file, UTF-16/32 or binary
        content, invalid UTF-8, invalid YAML/JSON, a key given twice, NaN/Infinity in JSON.
    """
    import yaml  # heavy

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file ({what})" if not p.exists() else f"{p}: {what} is not a file")
    text = _decode_config(p, p.read_bytes())
    yaml_file = p.suffix.lower() in (".yaml", ".yml")
    try:
        if yaml_file:
            data = yaml.safe_load(text)
        else:
            def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
                out: dict[str, Any] = {}
                for k, v in items:
                    if k in out:
                        raise ConfigError(f"{p}: key {k!r} is given twice; keep one")
                    out[k] = v
                return out

            def constant(name: str) -> float:
                raise ConfigError(f"{p}: {name} is not a JSON number; give a finite number")

            data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply") from None
    lines: dict[str, int] = {}
    try:
        node = yaml.compose(text)  # JSON is YAML: the key lines of both
    except yaml.YAMLError:
        node = None
    if node is not None:
        _yaml_lines(node, "", lines, p)
    return ConfigFile(p, data, lines)


def load_config_file(path: str | Path, build: Callable[[Any], T], what: str = "config") -> T:
    """``build(data)`` of :func:`read_config_file`; a :class:`ConfigError` it raises names file, line and key."""
    cf = read_config_file(path, what)
    try:
        return build(cf.data)
    except ConfigError as exc:
        raise ConfigError(cf.locate(str(exc))) from None


# --------------------------------------------------------------------------- JSON files
class JsonConfig:
    """JSON text, atomic save and checked load for a config dataclass (a mixin).

    The subclass defines ``to_dict()`` (JSON-ready fields) and the classmethod ``from_dict(obj)``
    (checked, e.g. through :func:`from_dict`); this gives it ``to_json``, ``from_json``, ``save``
    and ``load``. A subclass whose files wrap the config in a larger record (a run sidecar)
    overrides :meth:`_config_record` to pick the config out.
    """

    def to_json(self) -> str:
        """Indented, key-sorted JSON text of ``to_dict()`` (what :meth:`save` writes)."""
        return json_text(self.to_dict())  # type: ignore[attr-defined]

    @classmethod
    def _config_record(cls, obj: Any) -> Any:
        """The config's mapping inside a parsed JSON document (the document itself here)."""
        return obj

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        """Parse :meth:`to_json` output; invalid JSON is a :class:`ConfigError` naming the class."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{cls.__name__}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
        return cls.from_dict(cls._config_record(obj))  # type: ignore[attr-defined]

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` atomically to ``path``."""
        write_json_atomic(path, self.to_dict())  # type: ignore[attr-defined]

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        """Read a file written by :meth:`save`; a missing file is a :class:`ConfigError`."""
        return load_config_file(path, lambda obj: cls.from_dict(cls._config_record(obj)),  # type: ignore[attr-defined]
                                f"{cls.__name__} file")


# --------------------------------------------------------------------------- value checks
#: What a ``device`` setting may be: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def checker(owner: str) -> Callable[[bool, str], None]:
    """``need(cond, msg)``: raise ``ConfigError(f"{owner}: {msg}")`` unless ``cond``."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(f"{owner}: {msg}")
    return need


def is_int(v: object) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: object) -> bool:
    """A finite ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def is_device(v: object) -> bool:
    """A device setting matching :data:`DEVICE_PATTERN`."""
    return isinstance(v, str) and bool(DEVICE_PATTERN.match(v))
