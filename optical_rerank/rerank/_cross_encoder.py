"""Cross-encoder scoring with a Hugging Face sequence classifier, loaded from safetensors only.

Each (query, passage) pair is rendered through the templates of :class:`RerankConfig` and
encoded by the tokenizer as a *pair* (``tokenizer(query, passage, truncation="only_second")``),
so for a passage that fits in ``max_length`` the score equals
``sentence_transformers.CrossEncoder.predict`` with an identity activation on the same model.
The score of one window is

* ``num_labels == 1``: the logit;
* ``num_labels == 2``: ``logit[1] - logit[0]`` (the log-odds of the "relevant" class; monotone in
  its softmax probability).

Long passages are split into overlapping token windows: the query is kept whole in every window
and the passage is cut into windows of ``max_length - len(query) - n_special`` tokens (or
``window`` if smaller) that overlap by ``stride`` tokens (Hugging Face's
``return_overflowing_tokens`` semantics). ``aggregation="maxp"`` takes the best window,
``"firstp"`` only the first (plain truncation). On CPU the forward runs through the exact fast
path of :mod:`._fast_cpu` where it applies.

With a fusion weight (``RerankConfig.fusion_weight > 0``, e.g. from the shipped teacher's card) the
score of a pair is ``score + fusion_weight * fusion_scale * cos``, ``cos`` being what a
:class:`~optical_rerank.rerank.BiEncoderReranker` of ``fusion_biencoder`` scores for it (loaded
once, with this reranker's batch size and device); the sum is kept in float64 so that the
6-decimal rounding of the tie policy applies to it as to any score.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError, ModelError, NumericalError
from ..models import load_tokenizer, quiet_transformers, resolve_model
from ._backends import Runner, load_runner
from ._base import Reranker
from ._biencoder import BiEncoderReranker
from ._config import RerankConfig, render_template
from ._fast_cpu import _FastEncoder

__all__ = ["CrossEncoderReranker", "load_cross_encoder"]

logger = logging.getLogger(__name__)


def _resolve_model(name_or_path: str | Path) -> str:
    """A local model directory (or a hub id) for a path or a zoo name.

    Existing directories are used as they are (:func:`load_cross_encoder` checks them); anything
    else goes through ``optical_rerank.models.resolve_model`` (zoo names, hub ids).
    """
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return str(p)
    return str(resolve_model(str(name_or_path)))


def load_cross_encoder(path_or_id: str, head_seed: int = 0) -> tuple[Any, Any, list[str]]:
    """``(tokenizer, model, missing_keys)`` of a local directory or hub id, from safetensors only.

    A missing head (e.g. a bi-encoder backbone) is initialised from ``head_seed`` without touching
    the global torch RNG, so every process builds the same model.
    """
    import torch  # heavy
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification  # heavy

    local = Path(path_or_id).is_dir()
    if local:
        d = Path(path_or_id)
        if not (d / "config.json").is_file():
            raise ModelError(f"{d}: no config.json; not a Hugging Face model directory")
        if not ((d / "model.safetensors").is_file() or (d / "model.safetensors.index.json").is_file()):
            found = sorted(p.name for p in d.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".h5"})
            hint = f" (found {found}; pickle checkpoints are refused - convert them to safetensors)" if found else ""
            raise ModelError(f"{d}: no model.safetensors{hint}")
    tokenizer = load_tokenizer(path_or_id)
    try:
        with torch.random.fork_rng(devices=[]), quiet_transformers():  # a missing head: the same everywhere
            torch.manual_seed(head_seed)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path_or_id, use_safetensors=True, local_files_only=local, output_loading_info=True)
    except SafetensorError as exc:  # truncated, garbage, inconsistent header
        raise ModelError(f"{path_or_id}: model.safetensors is not a valid safetensors file ({exc}); "
                         "copy or export the model again") from exc
    except RuntimeError as exc:
        if "mismatch" not in str(exc):
            raise
        raise ModelError(f"{path_or_id}: the tensors in model.safetensors do not have the shapes config.json "
                         "describes (files of two different models?); copy or export the model again") from exc
    except (OSError, ValueError) as exc:
        hint = "" if local else " (hub ids need a network connection; offline, use a zoo name or a local directory)"
        raise ModelError(f"{path_or_id}: cannot load tokenizer/model: {exc}{hint}") from exc
    return tokenizer, model, sorted(info.get("missing_keys") or ())


def _load_tokenizer_and_config(path_or_id: str) -> tuple[Any, Any]:
    """``(tokenizer, holder)`` where ``holder.config`` is the model's config (no weights loaded)."""
    from types import SimpleNamespace

    from transformers import AutoConfig  # heavy

    if not (Path(path_or_id) / "model.safetensors").is_file() and not (
            Path(path_or_id) / "model.safetensors.index.json").is_file():
        raise ModelError(f"{path_or_id}: no model.safetensors (another backend needs local safetensors weights)")
    tokenizer = load_tokenizer(path_or_id)  # checked: never an empty vocabulary
    try:
        config = AutoConfig.from_pretrained(path_or_id, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path_or_id}: cannot load tokenizer/config: {exc}") from exc
    return tokenizer, SimpleNamespace(config=config)


# --------------------------------------------------------------------------- reranker
class CrossEncoderReranker(Reranker, kind="cross-encoder"):
    """Score (query, passage) pairs with a sequence-classification cross-encoder and rerank hits.

    Parameters
    ----------
    model_or_path : a local model directory, a zoo name, a ``(tokenizer, model)`` pair already
        loaded, or ``None`` to load ``config.model``. A path/name given here overrides
        ``config.model`` (the reranker's :attr:`config` records what was loaded).
    config : :class:`RerankConfig`; default ``RerankConfig(model=str(model_or_path))``.

    Attributes
    ----------
    config : the effective :class:`RerankConfig`.
    tokenizer, model : the Hugging Face tokenizer and (moved, cast or quantized) model.
    model_source : the directory (or hub id) loaded, ``None`` for a ``(tokenizer, model)`` pair.
    missing_keys : weights absent from the checkpoint (e.g. ``classifier.*`` of a bi-encoder
        backbone); they are initialised from seed 0, like ``models.load_cross_encoder_model``, so
        every process scores identically, and a warning is logged.
    num_labels : 1 or 2 (see the module docstring for the score of each).
    biencoder : the :class:`BiEncoderReranker` of ``config.fusion_biencoder`` when
        ``config.fusion_weight > 0``, else ``None`` (nothing loaded).

    Notes
    -----
    ``threads`` is applied with ``torch.set_num_threads`` (process-wide) when the reranker is built.
    The tokenizer must be a "fast" (Rust) tokenizer: windows use its overflowing-token support.
    A ``(tokenizer, model)`` pair is moved/cast in place (and quantized into a copy).
    """

    def __init__(self, model_or_path: str | Path | tuple[Any, Any] | None = None,
                 config: RerankConfig | None = None):
        import torch  # heavy

        config = self._configure(model_or_path, config)
        self.missing_keys: list[str] = []
        if isinstance(model_or_path, tuple):
            if len(model_or_path) != 2:
                raise ConfigError("CrossEncoderReranker: a loaded model must be given as (tokenizer, model)")
            tokenizer, model = model_or_path
            self.model_source: str | None = None
        elif config.backend != "torch":  # an export of the weights runs; torch builds it (once, cached)
            self.model_source = _resolve_model(model_or_path if model_or_path is not None else config.model)
            tokenizer, model = _load_tokenizer_and_config(self.model_source)
        else:
            self.model_source = _resolve_model(model_or_path if model_or_path is not None else config.model)
            tokenizer, model, self.missing_keys = load_cross_encoder(self.model_source)
            if self.missing_keys:
                logger.warning("model %r has no trained weights for %s: they are initialised from seed 0 "
                               "(deterministic, but an untrained head ranks at random); fine-tune or distill "
                               "a cross-encoder first", config.model, ", ".join(self.missing_keys[:6]))

        if not getattr(tokenizer, "is_fast", False):
            raise ModelError(f"model {config.model!r}: a fast (Rust) tokenizer is required for windowing")
        num_labels = int(getattr(model.config, "num_labels", 1))
        if num_labels not in (1, 2):
            raise ModelError(f"model {config.model!r} has num_labels={num_labels}; a reranker needs 1 (logit) "
                             "or 2 (logit[1] - logit[0])")
        self.num_labels = num_labels
        self.n_special = int(tokenizer.num_special_tokens_to_add(pair=True))
        limit = self._position_limit(model, tokenizer)
        if limit is not None and config.max_length > limit:
            raise ConfigError(f"max_length={config.max_length} exceeds what model {config.model!r} accepts ({limit})")
        if config.max_length - self.n_special < 4:
            raise ConfigError(f"max_length={config.max_length} leaves no room for text after {self.n_special} special tokens")

        # device / precision / quantization
        device = self._device()
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[config.dtype]
        self._runner: Runner | None = None
        if config.backend != "torch":
            self._init_exported(tokenizer, model, device, dtype)
            return
        if device == "cpu" and dtype == torch.float16:
            logger.warning("dtype=fp16 requested but running on CPU; using fp32")
            dtype = torch.float32
        model = model.eval().to(device=device, dtype=dtype)
        fp32_model = model
        if config.quantize == "int8":
            model = self._quantize_int8(model)
        self.device = torch.device(device)
        self.dtype = dtype
        self.tokenizer = tokenizer
        self.model = model
        self._warned_long_query = False
        # exact CPU forward without padding in the dense layers (None: the model's own forward)
        self._fast = _FastEncoder.build(model, self.device, dtype, fp32_model=fp32_model)
        self.biencoder: BiEncoderReranker | None = None
        if config.fusion_weight > 0:
            self.biencoder = BiEncoderReranker(None, RerankConfig(
                model=config.fusion_biencoder, batch_size=config.batch_size, device=str(self.device),
                fusion_weight=0.0))

    def _init_exported(self, tokenizer: Any, model: Any, device: str, dtype: Any) -> None:
        """The ONNX Runtime / OpenVINO runner of the same weights (``model`` is only its config here)."""
        import torch  # heavy

        cfg = self.config
        self.device = torch.device(device)
        self.dtype = dtype
        self.tokenizer = tokenizer
        self.model = model
        self._warned_long_query = False
        self._fast = None
        self._runner = load_runner(self.model_source, cfg.backend, cfg.precision, "cross-encoder", cfg.threads)
        self.biencoder = None
        if cfg.fusion_weight > 0:
            self.biencoder = BiEncoderReranker(None, RerankConfig(
                model=cfg.fusion_biencoder, batch_size=cfg.batch_size, device=device, fusion_weight=0.0,
                backend=cfg.backend, quantize=cfg.quantize, dtype=cfg.dtype, threads=cfg.threads))

    @staticmethod
    def _position_limit(model: Any, tokenizer: Any) -> int | None:
        limits = []
        mpe = getattr(model.config, "max_position_embeddings", None)
        if isinstance(mpe, int) and mpe > 0:
            pad_offset = 2 if getattr(model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"} else 0
            limits.append(mpe - pad_offset)
        mml = getattr(tokenizer, "model_max_length", None)
        if isinstance(mml, int) and 0 < mml < 1_000_000:
            limits.append(mml)
        return min(limits) if limits else None

    @staticmethod
    def _quantize_int8(model: Any) -> Any:
        import torch  # heavy

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic  # heavy

            return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    # ---- encoding
    def _truncate_query(self, query: str) -> str:
        """Cut a query longer than half the text budget (with a one-time warning)."""
        limit = (self.config.max_length - self.n_special) // 2
        enc = self.tokenizer(query, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) <= limit:
            return query
        if not self._warned_long_query:
            logger.warning("query longer than %d tokens (half of max_length=%d) truncated: %.60r...",
                           limit, self.config.max_length, query)
            self._warned_long_query = True
        return query[: enc["offset_mapping"][limit - 1][1]]

    def _encode(self, queries: Sequence[str], passages: Sequence[str]) -> tuple[list[dict[str, list[int]]], list[int]]:
        """Windows of all pairs: (features per window, pair index per window)."""
        cfg = self.config
        maxp = cfg.aggregation == "maxp"
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(q, []).append(i)
        keys = [k for k in self.tokenizer.model_input_names if k in ("input_ids", "token_type_ids", "attention_mask")]
        windows: list[tuple[int, dict[str, list[int]]]] = []
        for q, idx in groups.items():
            q_text = self._truncate_query(q)
            qlen = len(self.tokenizer(q_text, add_special_tokens=False)["input_ids"])
            room = cfg.max_length - self.n_special - qlen
            if cfg.window is not None and cfg.window < room:
                room = cfg.window
            max_length = qlen + self.n_special + room
            stride = min(cfg.stride, room // 2)
            enc = self.tokenizer([q_text] * len(idx), [passages[i] for i in idx], truncation="only_second",
                                 max_length=max_length, stride=stride, return_overflowing_tokens=maxp,
                                 padding=False)
            mapping = enc["overflow_to_sample_mapping"] if maxp else list(range(len(idx)))
            seen: dict[int, int] = {}
            for w, local in enumerate(mapping):
                n = seen.get(local, 0)
                seen[local] = n + 1
                if cfg.max_windows is not None and n >= cfg.max_windows:
                    continue
                windows.append((idx[local], {k: list(enc[k][w]) for k in keys if k in enc}))
        windows.sort(key=lambda t: t[0])  # pair order, windows in passage order
        return [f for _, f in windows], [i for i, _ in windows]

    def _pad(self, feats: Sequence[dict[str, list[int]]]) -> dict[str, Any]:
        import torch  # heavy

        width = max(len(f["input_ids"]) for f in feats)
        pad_values = {"input_ids": self.tokenizer.pad_token_id or 0,
                      "token_type_ids": getattr(self.tokenizer, "pad_token_type_id", 0) or 0,
                      "attention_mask": 0}
        left = getattr(self.tokenizer, "padding_side", "right") == "left"
        out = {}
        for key in feats[0]:
            rows = []
            for f in feats:
                pad = [pad_values[key]] * (width - len(f[key]))
                rows.append(pad + f[key] if left else f[key] + pad)
            out[key] = torch.tensor(rows, dtype=torch.long, device=self.device)
        return out

    def _forward(self, batch: Mapping[str, Any]) -> Any:
        """Logits of a padded batch: the fast CPU path when built, else the model's forward."""
        if self._runner is not None:
            import torch  # heavy

            return torch.from_numpy(self._runner({k: v.numpy() for k, v in batch.items()}))
        if self._fast is not None:
            return self._fast(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"))
        return self.model(**batch).logits

    # ---- scoring
    def score_pairs(self, queries: Sequence[str], passages: Sequence[str],
                    show_progress: bool | None = None) -> np.ndarray:
        """Score raw (query, passage) texts; templates are applied here.

        Parameters
        ----------
        queries, passages : equally long lists of texts (pair ``i`` is ``(queries[i], passages[i])``).
        show_progress : batch progress bar; default ``config.show_progress``.

        Returns
        -------
        numpy.ndarray
            float32 scores, one per pair (MaxP/FirstP over windows, see the module docstring); with
            fusion, float64 ``score + fusion_weight * fusion_scale * cos``.
        """
        import torch  # heavy

        if len(queries) != len(passages):
            raise ValueError(f"score_pairs: {len(queries)} queries but {len(passages)} passages")
        n = len(queries)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        cfg = self.config
        qs = [render_template(cfg.query_template, str(q)) for q in queries]
        ps = [render_template(cfg.passage_template, str(p)) for p in passages]
        feats, owner = self._encode(qs, ps)
        # length buckets: longest first (ties in input order), restore order afterwards
        order = sorted(range(len(feats)), key=lambda k: (-len(feats[k]["input_ids"]), k))
        win_scores = np.empty(len(feats), dtype=np.float32)
        bs = cfg.batch_size
        starts = range(0, len(order), bs)
        progress = cfg.show_progress if show_progress is None else show_progress
        with torch.inference_mode():
            for b, start in enumerate(tqdm(starts, desc="rerank batches", unit="batch", disable=not progress)):
                sel = order[start:start + bs]
                logits = self._forward(self._pad([feats[k] for k in sel])).float()
                s = logits[:, 0] if self.num_labels == 1 else logits[:, 1] - logits[:, 0]
                if not bool(torch.isfinite(s).all()):
                    raise NumericalError(
                        f"non-finite cross-encoder scores in batch {b} ({len(sel)} windows, dtype={cfg.dtype}); "
                        "use dtype='bf16' or 'fp32' (fp16 overflows on some models) or check the model weights")
                win_scores[sel] = s.cpu().numpy()
        out = np.full(n, -np.inf, dtype=np.float32)
        np.maximum.at(out, np.asarray(owner, dtype=np.int64), win_scores)
        if self.biencoder is None:
            return out
        cos = self.biencoder.score_pairs(queries, passages, show_progress=False)
        return out.astype(np.float64) + cfg.fusion_weight * cfg.fusion_scale * cos.astype(np.float64)
