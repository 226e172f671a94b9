"""Cross-encoder reranking of first-stage candidates, resumable and shardable.

Pipeline::

    BM25 (Pyserini) hits --hits_from_pyserini--> Hit lists --CrossEncoderReranker.rerank--> reranked Hits
                                                           \\--rerank_to_file--> TREC run (+ .config.json)

Scoring
-------
:class:`CrossEncoderReranker` wraps a Hugging Face ``AutoModelForSequenceClassification`` loaded
from ``safetensors`` only. Each (query, passage) pair is rendered through the templates of
:class:`RerankConfig` and encoded by the tokenizer as a *pair*
(``tokenizer(query, passage, truncation="only_second")``), so for a passage that fits in
``max_length`` the score equals ``sentence_transformers.CrossEncoder.predict`` with an identity
activation on the same model. The score of one window is

* ``num_labels == 1``: the logit;
* ``num_labels == 2``: ``logit[1] - logit[0]`` (the log-odds of the "relevant" class; monotone in
  its softmax probability).

Long passages are split into overlapping token windows: the query is kept whole in every window
and the passage is cut into windows of ``max_length - len(query) - n_special`` tokens (or
``window`` if smaller) that overlap by ``stride`` tokens (Hugging Face's
``return_overflowing_tokens`` semantics). ``aggregation="maxp"`` takes the best window,
``"firstp"`` only the first (plain truncation).

Ranking and ties
----------------
Output hits are sorted by ``(-score, docid)`` with ranks from 1, and the *written* scores
(``score:.6f``) are distinct and strictly decreasing down the ranking, so that any reader that
sorts by score recovers exactly this order:

1. the top ``depth`` first-stage candidates (first-stage order is ``(-score, docid)``) are ordered
   by model score, exact ties broken by first-stage position;
2. output scores are the model scores rounded to 1e-6; where rounding makes a score equal to or
   higher than its predecessor it is lowered to 1e-6 below it (so scores may move by a few 1e-6
   on near-ties);
3. candidates beyond ``depth`` follow in first-stage order, each 1e-6 below the previous one.

CPU fast path
-------------
On CPU in fp32 (and with int8 dynamic quantization), BERT and (XLM-)RoBERTa classifiers are run
by an inference-only forward (``_FastEncoder``) that computes the same logits with less work:
fused Q/K/V projections, bias/GELU/residual fused into oneDNN GEMMs with weights pre-packed once,
the attention mask built once per batch, and the last layer evaluated for [CLS] only (the only
position the head reads). It is checked against the model's own forward on a probe batch when
the reranker is built (max |diff| <= 1e-4, else it is not used); other models, GPUs and half
precision use the model's forward. ``OPTICAL_RERANK_FAST_PATH=0`` disables it.

Resuming and scale-out
----------------------
:func:`rerank_to_file` appends each finished query to ``<out>.partial`` and records it in
``<out>.partial.done`` (a JSON header with the config and input fingerprints, then one JSON line
per finished query with its byte range), both fsynced. A restart skips finished queries and
discards a half-written block; the final run is byte-identical to an uninterrupted one.
:func:`shard_queries` splits topics by position modulo ``n``; :func:`merge_runs` (CLI
``python -m optical_rerank.merge``) joins shard runs into the single-process run, byte for byte.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import ConfigError, InputFormatError, ModelError, NumericalError, OpticalRerankError, config_fields
from .trec_io import atomic_write, format_run_lines, iter_lines, sort_hits, write_json_atomic
from .types import Hit, Query

try:  # POSIX advisory lock against two processes writing the same partial run
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = [
    "RerankConfig",
    "CrossEncoderReranker",
    "RerankInputError",
    "rerank_to_file",
    "shard_queries",
    "parse_shard",
    "merge_runs",
    "hits_from_pyserini",
    "partial_paths",
    "config_sidecar_path",
    "read_run_sidecar",
]

PARTIAL_FORMAT = "optical_rerank.partial/1"
SIDECAR_FORMAT = "optical_rerank.run/1"
_SCORE_UNIT = 1_000_000  # scores are written with 6 decimals


class RerankInputError(OpticalRerankError, ValueError):
    """Candidates cannot be reranked as given (missing text, duplicate docid, qid mismatch)."""


# --------------------------------------------------------------------------- config
_AGGREGATIONS = ("maxp", "firstp")
_QUANTIZE = ("none", "int8")
_DTYPES = ("fp32", "bf16", "fp16")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class RerankConfig:
    """Everything that determines a reranked run.

    Parameters
    ----------
    model : zoo name (resolved by ``optical_rerank.models.resolve_model``) or a local model directory.
    max_length : tokens per (query, passage window) input, special tokens included.
    batch_size : windows per forward pass (windows are bucketed by length to minimise padding).
    query_template, passage_template : texts are rendered by replacing ``{text}`` (e.g. E5's
        ``"query: {text}"`` / ``"passage: {text}"``; use ``"{text}"`` for none).
    window : at most this many passage tokens per window; ``None``: all the room ``max_length``
        leaves after the query and the special tokens.
    stride : passage tokens shared by consecutive windows (capped at half the window).
    max_windows : score at most this many windows per passage (``None``: all).
    aggregation : ``"maxp"`` (best window) or ``"firstp"`` (first window only, i.e. truncation).
    depth : rerank the top ``depth`` first-stage candidates per query; the rest keep their
        first-stage order below them.
    threads : ``torch.set_num_threads`` value for CPU inference (``None``: leave torch's setting).
    quantize : ``"int8"`` applies dynamic int8 quantization to the ``Linear`` layers (CPU only).
    dtype : ``"bf16"``/``"fp16"`` run the model in half precision (GPU only).
    device : ``"auto"`` (CUDA when available and not quantizing), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    show_progress : tqdm progress bars (not part of the run's identity).
    """

    model: str
    max_length: int = 512
    batch_size: int = 32
    query_template: str = "query: {text}"
    passage_template: str = "passage: {text}"
    window: int | None = None
    stride: int = 64
    max_windows: int | None = None
    aggregation: str = "maxp"
    depth: int = 100
    threads: int | None = None
    quantize: str = "none"
    dtype: str = "fp32"
    device: str = "auto"
    show_progress: bool = False

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"RerankConfig: {msg}")

        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        need(isinstance(self.model, str) and bool(self.model.strip()), f"model must be a non-empty string, got {self.model!r}")
        need(is_int(self.max_length) and self.max_length >= 8, f"max_length must be an integer >= 8, got {self.max_length!r}")
        need(is_int(self.batch_size) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        for name in ("query_template", "passage_template"):
            t = getattr(self, name)
            need(isinstance(t, str) and t.count("{text}") == 1,
                 f"{name} must contain '{{text}}' exactly once, got {t!r}")
        need(self.window is None or (is_int(self.window) and self.window >= 1),
             f"window must be None or an integer >= 1, got {self.window!r}")
        need(is_int(self.stride) and self.stride >= 0, f"stride must be an integer >= 0, got {self.stride!r}")
        need(self.max_windows is None or (is_int(self.max_windows) and self.max_windows >= 1),
             f"max_windows must be None or an integer >= 1, got {self.max_windows!r}")
        need(self.aggregation in _AGGREGATIONS, f"aggregation must be one of {_AGGREGATIONS}, got {self.aggregation!r}")
        need(is_int(self.depth) and self.depth >= 1, f"depth must be an integer >= 1, got {self.depth!r}")
        need(self.threads is None or (is_int(self.threads) and self.threads >= 1),
             f"threads must be None or an integer >= 1, got {self.threads!r}")
        need(self.quantize in _QUANTIZE, f"quantize must be one of {_QUANTIZE}, got {self.quantize!r}")
        need(self.dtype in _DTYPES, f"dtype must be one of {_DTYPES}, got {self.dtype!r}")
        need(isinstance(self.device, str) and bool(_DEVICE_RE.match(self.device)),
             f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        need(isinstance(self.show_progress, bool), f"show_progress must be a bool, got {self.show_progress!r}")
        need(not (self.quantize == "int8" and self.device.startswith("cuda")),
             "quantize='int8' is CPU dynamic quantization; use device='cpu' or 'auto'")
        need(not (self.quantize == "int8" and self.dtype != "fp32"), "quantize='int8' requires dtype='fp32'")
        need(not (self.dtype != "fp32" and self.device == "cpu"),
             f"dtype={self.dtype!r} is for GPU inference; use dtype='fp32' on CPU (or quantize='int8')")

    # ---- serialisation
    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (JSON-ready)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Indented, key-sorted JSON text (what ``<run>.config.json`` holds under ``"config"``)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> RerankConfig:
        """Build a config from a dict; unknown keys are an error, missing keys take defaults."""
        return cls(**config_fields(cls, obj, required=("model",)))

    @classmethod
    def from_json(cls, text: str) -> RerankConfig:
        """Parse :meth:`to_json` output, or a run sidecar (``<run>.config.json``, config under ``"config"``)."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"RerankConfig: invalid JSON: {exc.msg} (line {exc.lineno})") from None
        if isinstance(obj, dict) and obj.get("format") == SIDECAR_FORMAT and isinstance(obj.get("config"), dict):
            obj = obj["config"]
        return cls.from_dict(obj)

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_json` atomically to ``path``."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> RerankConfig:
        """Read a config (or run sidecar) JSON file."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: no such config file")
        return cls.from_json(p.read_text(encoding="utf-8"))

    def identity(self) -> dict[str, Any]:
        """The fields that determine the run's bytes (all but ``show_progress``)."""
        d = self.to_dict()
        d.pop("show_progress")
        return d

    def fingerprint(self) -> str:
        """sha256 of :meth:`identity` (canonical JSON)."""
        return _sha256_json(self.identity())


def _sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).hexdigest()


def _render(template: str, text: str) -> str:
    return template.replace("{text}", text)


# --------------------------------------------------------------------------- model loading
def _resolve_model(name_or_path: str | Path) -> str:
    """A local model directory (or a hub id) for a path or a zoo name.

    Existing directories are used as they are; anything else goes through
    ``optical_rerank.models.resolve_model`` (zoo names, hub ids), imported lazily.
    """
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return str(p)
    try:
        from .models import resolve_model  # noqa: PLC0415 - lazy: keeps this module light
    except ImportError as exc:
        raise ModelError(f"model {str(name_or_path)!r} is not a directory and the model zoo "
                         f"(optical_rerank.models) cannot be imported: {exc}") from None
    return str(resolve_model(str(name_or_path)))


def _load_hf(path_or_id: str, head_seed: int = 0) -> tuple[Any, Any, list[str]]:
    """``(tokenizer, model, missing_keys)`` from safetensors; a missing head is initialised from ``head_seed``."""
    import torch  # noqa: PLC0415
    from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: PLC0415

    local = Path(path_or_id).is_dir()
    if local:
        d = Path(path_or_id)
        if not (d / "config.json").is_file():
            raise ModelError(f"{d}: no config.json; not a Hugging Face model directory")
        if not ((d / "model.safetensors").is_file() or (d / "model.safetensors.index.json").is_file()):
            found = sorted(p.name for p in d.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".h5"})
            hint = f" (found {found}; pickle checkpoints are refused - convert them to safetensors)" if found else ""
            raise ModelError(f"{d}: no model.safetensors{hint}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path_or_id, local_files_only=local)
        with torch.random.fork_rng(devices=[]):  # a missing head is the same in every process
            torch.manual_seed(head_seed)
            model, info = AutoModelForSequenceClassification.from_pretrained(
                path_or_id, use_safetensors=True, local_files_only=local, output_loading_info=True)
    except (OSError, ValueError) as exc:
        hint = "" if local else " (hub ids need a network connection; offline, use a zoo name or a local directory)"
        raise ModelError(f"{path_or_id}: cannot load tokenizer/model: {exc}{hint}") from exc
    return tokenizer, model, sorted(info.get("missing_keys") or ())


# --------------------------------------------------------------------------- CPU fast path
_FAST_ARCHS = {"BertForSequenceClassification": "bert", "XLMRobertaForSequenceClassification": "roberta",
               "RobertaForSequenceClassification": "roberta", "CamembertForSequenceClassification": "roberta"}
_FAST_CHECK_TOL = 1e-4
_UNPAD_BELOW = 0.95  # pack a batch's tokens (no padding in the dense layers) below this fill ratio


def _mkldnn_linear_ok() -> bool:
    """Whether oneDNN's fused linear (the op behind ``torch.compile``'s CPU freezing pass) is usable."""
    import torch  # noqa: PLC0415

    try:
        if not torch.backends.mkldnn.is_available():
            return False
        w, b, x = torch.ones(4, 8), torch.zeros(4), torch.ones(3, 8)
        with torch.inference_mode():
            packed = torch.ops.mkldnn._reorder_linear_weight(w)
            y = torch.ops.mkldnn._linear_pointwise(x, packed, b, "gelu", [], "none")
            z = torch.ops.mkldnn._linear_pointwise.binary(x, x[:, :4], packed, b, "add")
        lin = torch.nn.functional.linear(x, w, b)
        return bool(torch.allclose(y, torch.nn.functional.gelu(lin)) and torch.allclose(z, lin + x[:, :4]))
    except Exception:  # noqa: BLE001 - any failure: use the plain path
        return False


class _Linear:
    """A ``Linear`` (optionally followed by exact GELU) for inference.

    fp32 weights are pre-packed once into oneDNN's blocked layout, and bias, GELU and a residual
    add run in the GEMM's epilogue (one pass over the output instead of three); without oneDNN
    this is ``F.linear``; any other module (e.g. a dynamically quantized int8 ``Linear``) is
    called as is.
    """

    def __init__(self, weight: Any = None, bias: Any = None, *, module: Any = None, gelu: bool = False,
                 mkldnn: bool = False):
        import torch  # noqa: PLC0415

        self.module = module
        self.gelu = gelu
        self.weight = None if weight is None else weight.detach().contiguous()
        self.bias = None if bias is None else bias.detach().contiguous()
        self.packed = None
        if module is None and mkldnn:
            with torch.inference_mode():
                self.packed = torch.ops.mkldnn._reorder_linear_weight(self.weight)
            self.weight = None  # only the packed copy is used

    def __call__(self, x: Any, residual: Any = None) -> Any:
        """``act(x @ W.T + b)`` (``+ residual`` when given; not with GELU)."""
        import torch  # noqa: PLC0415
        from torch.nn import functional as F  # noqa: PLC0415

        if self.packed is not None:
            if self.gelu:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "gelu", [], "none")
            if residual is not None:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.packed, self.bias, "add")
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
        y = self.module(x) if self.module is not None else F.linear(x, self.weight, self.bias)
        if self.gelu:
            y = F.gelu(y)
        return y if residual is None else y + residual


class _FastEncoder:
    """Exact CPU inference forward of a BERT / (XLM-)RoBERTa sequence classifier.

    Computes what ``model(**batch).logits`` computes, with less work:

    * **fused projections**: one GEMM for Q, K and V (fp32); bias, GELU and the residual add run
      in the GEMM epilogue; weights are pre-packed once for oneDNN; the attention mask is built
      once per batch, not once per layer. Fewer, larger kernels also matter on a busy CPU, where
      every parallel kernel can wait for a descheduled thread;
    * **the last layer only for [CLS]**: the classifier reads position 0 of the last layer, so
      there only [CLS] queries attend (keys/values of all tokens are still computed) and the
      output projection, feed-forward and layer norms run on one row per sequence.

    The result equals the Hugging Face forward up to float rounding (checked at build time on a
    probe batch; the fast path is dropped when the check fails). Built by :meth:`build`, which
    returns ``None`` for anything it does not cover (other architectures, GPU, half precision,
    relative position embeddings, decoders). Exact GELU is fused into its GEMM; another
    activation runs as the model's own function. Dynamically quantized (int8) ``Linear`` layers
    are called as they are, one per projection; their per-tensor activation ranges are then
    measured on the rows actually computed (e.g. [CLS] only in the last layer), so int8 scores
    differ from the model's own int8 forward at the level of quantization noise.
    """

    def __init__(self, model: Any, kind: str, mkldnn: bool, fuse: bool = True):
        import torch  # noqa: PLC0415

        cfg = model.config
        self.kind = kind
        self.base = model.bert if kind == "bert" else model.roberta
        self.model = model
        self.n_heads = int(cfg.num_attention_heads)
        self.hidden = int(cfg.hidden_size)
        self.head_dim = self.hidden // self.n_heads
        exact_gelu = getattr(cfg, "hidden_act", None) == "gelu"

        def packed(*mods: Any, gelu: bool = False) -> _Linear:  # one GEMM for several Linears of one input
            return _Linear(torch.cat([m.weight for m in mods]), torch.cat([m.bias for m in mods]),
                           gelu=gelu, mkldnn=mkldnn)

        self.layers = []
        n_layers = len(self.base.encoder.layer)
        for n, layer in enumerate(self.base.encoder.layer):
            att, out_att = layer.attention.self, layer.attention.output
            lin = (att.query, att.key, att.value, out_att.dense, layer.intermediate.dense, layer.output.dense)
            qkv = kv = sep = q = None
            if fuse and all(type(m) is torch.nn.Linear for m in lin):
                if n < n_layers - 1:
                    qkv = packed(att.query, att.key, att.value)
                else:  # the last layer computes queries for [CLS] only
                    kv, q = packed(att.key, att.value), packed(att.query)
                o, down = packed(out_att.dense), packed(layer.output.dense)
                up = packed(layer.intermediate.dense, gelu=exact_gelu)
            else:  # e.g. dynamically quantized int8 Linear modules: keep them (and their scales) as they are
                sep = (_Linear(module=att.query), _Linear(module=att.key), _Linear(module=att.value))
                q = sep[0]
                o, down = _Linear(module=out_att.dense), _Linear(module=layer.output.dense)
                up = _Linear(module=layer.intermediate.dense, gelu=exact_gelu)
            act = None if exact_gelu else layer.intermediate.intermediate_act_fn
            self.layers.append((qkv, kv, sep, q, o, out_att.LayerNorm, up, act, down, layer.output.LayerNorm))

    @classmethod
    def build(cls, model: Any, device: Any, dtype: Any, fp32_model: Any = None) -> _FastEncoder | None:
        """A fast forward for ``model``, or ``None`` when it is not covered (see the class notes).

        A model whose ``Linear`` layers were replaced (dynamic int8 quantization) is checked
        through ``fp32_model``, the model before the replacement: the unfused code path (one call
        per projection, as used for the replaced layers) must reproduce its forward; without
        ``fp32_model`` such a model gets no fast path.
        """
        import torch  # noqa: PLC0415

        if os.environ.get("OPTICAL_RERANK_FAST_PATH", "1") == "0":
            return None
        kind = _FAST_ARCHS.get(type(model).__name__)
        cfg = getattr(model, "config", None)
        if kind is None or cfg is None or device.type != "cpu" or dtype != torch.float32:
            return None
        if getattr(cfg, "is_decoder", False) or getattr(cfg, "add_cross_attention", False):
            return None
        if getattr(cfg, "position_embedding_type", "absolute") not in (None, "absolute"):
            return None
        base = getattr(model, "bert" if kind == "bert" else "roberta", None)
        if base is None or (kind == "bert" and getattr(base, "pooler", None) is None):
            return None
        if int(cfg.hidden_size) % int(cfg.num_attention_heads):
            return None
        try:
            encoder_linears = [m for m in base.encoder.modules() if isinstance(m, torch.nn.Module)
                               and not list(m.children()) and "Linear" in type(m).__name__]
            if all(type(m) is torch.nn.Linear for m in encoder_linears):
                fast = cls(model, kind, _mkldnn_linear_ok())
                ok = fast._self_check()
            elif fp32_model is not None and type(fp32_model) is type(model):
                ok = cls(fp32_model, kind, mkldnn=False, fuse=False)._self_check()
                fast = cls(model, kind, mkldnn=False)
            else:
                return None
        except Exception as exc:  # noqa: BLE001 - an unexpected layout: use the Hugging Face forward
            logger.debug("fast CPU path unavailable for %s: %s", type(model).__name__, exc)
            return None
        return fast if ok else None

    def _self_check(self) -> bool:
        """Compare with the Hugging Face forward on a probe batch (three lengths, right padding)."""
        import torch  # noqa: PLC0415

        cfg = self.model.config
        vocab = int(cfg.vocab_size)
        pad = int(getattr(cfg, "pad_token_id", 0) or 0)
        gen = torch.Generator().manual_seed(0)
        cap = max(2, min(40, int(getattr(cfg, "max_position_embeddings", 42) or 42) - 2))
        lengths = [cap, max(1, cap // 2 + 3), max(1, cap // 4)]
        ids = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, n in enumerate(lengths):
            ids[i, :n] = torch.randint(5, vocab, (n,), generator=gen)
            mask[i, :n] = 1
        types = torch.zeros_like(ids)
        if int(getattr(cfg, "type_vocab_size", 1) or 1) > 1:
            types[0, cap // 2:cap] = 1
        with torch.inference_mode():
            ref = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits.float()
            got = self(ids, mask, types).float()
        err = float((ref - got).abs().max())
        scale = max(1.0, float(ref.abs().max()))
        if not err <= _FAST_CHECK_TOL * scale:
            logger.warning("fast CPU path disagrees with the model's forward (max |diff| %.2e); not used", err)
            return False
        return True

    def __call__(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
        """Logits ``(batch, num_labels)`` of a padded batch, as ``model(...).logits``."""
        import torch  # noqa: PLC0415
        from torch.nn import functional as F  # noqa: PLC0415

        B, L = input_ids.shape
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        H, nh, dh = self.hidden, self.n_heads, self.head_dim
        mask = attention_mask.bool()
        lengths = mask.sum(1)
        n_real = int(lengths.sum())
        # pack the real tokens when padding is worth removing (right-padded batches only: [CLS] at 0)
        unpad = n_real < _UNPAD_BELOW * B * L and bool(lengths.min() > 0) and torch.equal(
            mask, torch.arange(L, device=mask.device)[None, :] < lengths[:, None])
        kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        emb = self.base.embeddings(input_ids=input_ids, **kw)  # (B, L, H), as the model computes it
        x = emb.reshape(B * L, H)
        idx = buf = starts = None
        if unpad:
            idx = mask.reshape(-1).nonzero().squeeze(1)  # packed row -> padded row
            x = x.index_select(0, idx)
            starts = torch.cumsum(lengths, 0) - lengths  # packed row of each [CLS]
            buf = x.new_zeros(B * L, 3 * H)  # padded Q|K|V for attention; padding rows stay 0
        # additive key mask, built once for all layers: 0 = attend, -inf = padding
        add_mask = torch.zeros((B, 1, 1, L), dtype=x.dtype, device=x.device)
        add_mask.masked_fill_(~mask[:, None, None, :], float("-inf"))

        def heads(parts: Sequence[Any]) -> list[Any]:
            """(rows, g*H) projections -> g views (B, nh, L, dh) each, scattered to padded rows if packed."""
            out, col = [], 0
            for t in parts:
                if unpad:
                    dst = buf[:, col:col + t.shape[1]]
                    dst.index_copy_(0, idx, t)
                    t = dst
                col += t.shape[1]
                out.extend(u.transpose(1, 2) for u in t.view(B, L, t.shape[1] // H, nh, dh).unbind(2))
            return out

        last = len(self.layers) - 1
        for n, (qkv, kv, sep, q_lin, o, ln1, up, act, down, ln2) in enumerate(self.layers):
            if n < last:
                q, k, v = heads([qkv(x)] if qkv is not None else [f(x) for f in sep])
                resid = x
            else:  # the head reads position 0 only: queries, output and feed-forward for [CLS] alone
                k, v = heads([kv(x)] if kv is not None else [sep[1](x), sep[2](x)])
                resid = x.index_select(0, starts) if unpad else x.view(B, L, H)[:, 0].contiguous()
                q = q_lin(resid).view(B, 1, nh, dh).transpose(1, 2)
            ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=add_mask)
            ctx = ctx.transpose(1, 2).reshape(-1, H)
            if unpad and n < last:
                ctx = ctx.index_select(0, idx)
            h = ln1(o(ctx, resid))
            inner = up(h)
            if act is not None:
                inner = act(inner)
            x = ln2(down(inner, h))
        cls_out = x.view(B, 1, H)  # the last layer ran for [CLS] only
        if self.kind == "bert":
            pooled = self.base.pooler(cls_out)
            return self.model.classifier(self.model.dropout(pooled))
        return self.model.classifier(cls_out)


# --------------------------------------------------------------------------- reranker
class CrossEncoderReranker:
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

    Notes
    -----
    ``threads`` is applied with ``torch.set_num_threads`` (process-wide) when the reranker is built.
    The tokenizer must be a "fast" (Rust) tokenizer: windows use its overflowing-token support.
    A ``(tokenizer, model)`` pair is moved/cast in place (and quantized into a copy).
    """

    def __init__(self, model_or_path: str | Path | tuple[Any, Any] | None = None,
                 config: RerankConfig | None = None):
        import torch  # noqa: PLC0415

        if config is None:
            if model_or_path is None or isinstance(model_or_path, tuple):
                raise ConfigError("CrossEncoderReranker: give a model path/name or a RerankConfig")
            config = RerankConfig(model=str(model_or_path))
        elif isinstance(model_or_path, (str, Path)) and str(model_or_path) != config.model:
            config = dataclasses.replace(config, model=str(model_or_path))
        self.config = config

        if config.threads is not None:
            torch.set_num_threads(config.threads)

        self.missing_keys: list[str] = []
        if isinstance(model_or_path, tuple):
            if len(model_or_path) != 2:
                raise ConfigError("CrossEncoderReranker: a loaded model must be given as (tokenizer, model)")
            tokenizer, model = model_or_path
            self.model_source: str | None = None
        else:
            self.model_source = _resolve_model(model_or_path if model_or_path is not None else config.model)
            tokenizer, model, self.missing_keys = _load_hf(self.model_source)
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
        device = config.device
        if device == "auto":
            device = "cuda" if (config.quantize == "none" and torch.cuda.is_available()) else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but torch.cuda.is_available() is False")
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[config.dtype]
        if device == "cpu" and dtype != torch.float32:
            logger.warning("dtype=%s requested but running on CPU; using fp32", config.dtype)
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
        import torch  # noqa: PLC0415

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from torch.ao.quantization import quantize_dynamic  # noqa: PLC0415

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
        import torch  # noqa: PLC0415

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
            float32 scores, one per pair (MaxP/FirstP over windows, see the module docstring).
        """
        import torch  # noqa: PLC0415
        from tqdm import tqdm  # noqa: PLC0415

        if len(queries) != len(passages):
            raise ValueError(f"score_pairs: {len(queries)} queries but {len(passages)} passages")
        n = len(queries)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        cfg = self.config
        qs = [_render(cfg.query_template, str(q)) for q in queries]
        ps = [_render(cfg.passage_template, str(p)) for p in passages]
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
        return out

    # ---- reranking
    def rerank(self, queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]],
               depth: int | None = None, show_progress: bool | None = None) -> dict[str, list[Hit]]:
        """Rerank the top ``depth`` candidates of each query.

        Parameters
        ----------
        queries : the queries, in output order; candidates of other qids are ignored.
        candidates : ``{qid: hits}`` with ``Hit.text`` set for (at least) the top ``depth`` hits.
        depth : default ``config.depth``.
        show_progress : query progress bar; default ``config.show_progress``.

        Returns
        -------
        dict
            ``{qid: hits}`` for every query (empty list when it has no candidates), hits sorted by
            ``(-score, docid)``, ranks from 1, scores distinct and monotone at 6 decimals
            (see the module docstring for the tie policy).
        """
        from tqdm import tqdm  # noqa: PLC0415

        depth = self.config.depth if depth is None else depth
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ConfigError(f"depth must be an integer >= 1, got {depth!r}")
        progress = self.config.show_progress if show_progress is None else show_progress
        out: dict[str, list[Hit]] = {}
        for q in tqdm(queries, desc="rerank queries", unit="q", disable=not progress or len(queries) < 2):
            if q.qid in out:
                raise RerankInputError(f"query {q.qid!r} given twice")
            first = _first_stage_order(q.qid, candidates.get(q.qid, ()))
            head, tail = first[:depth], first[depth:]
            for h in head:
                if h.text is None:
                    raise RerankInputError(
                        f"query {q.qid!r}: document {h.docid!r} (first-stage position {first.index(h) + 1}) has no "
                        "text; attach document texts (e.g. read_run(..., with_text=...) or BM25 with stored raw "
                        "documents) before reranking")
            scores = self.score_pairs([q.text] * len(head), [h.text for h in head], show_progress=False) if head \
                else np.zeros(0, dtype=np.float32)
            out[q.qid] = _assign_scores(q.qid, head, scores, tail)
        return out


def _first_stage_order(qid: str, hits: Iterable[Hit]) -> list[Hit]:
    hits = list(hits)
    seen: set[str] = set()
    for h in hits:
        if h.qid != qid:
            raise RerankInputError(f"candidates[{qid!r}] holds a hit of query {h.qid!r} (document {h.docid!r})")
        if h.docid in seen:
            raise RerankInputError(f"query {qid!r}: document {h.docid!r} listed twice among the candidates")
        seen.add(h.docid)
        if not math.isfinite(h.score):
            raise RerankInputError(f"query {qid!r}: document {h.docid!r} has a non-finite first-stage score")
    return sort_hits(hits)


def _assign_scores(qid: str, head: Sequence[Hit], scores: np.ndarray, tail: Sequence[Hit]) -> list[Hit]:
    """Distinct, monotone 6-decimal scores: model order (ties by first-stage position), then the tail."""
    order = sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))
    out: list[Hit] = []
    prev: int | None = None
    for i in order:
        u = int(round(float(scores[i]) * _SCORE_UNIT))
        if prev is not None and u >= prev:
            u = prev - 1
        prev = u
        out.append(Hit(qid, head[i].docid, u / _SCORE_UNIT, len(out) + 1, head[i].text))
    for h in tail:
        u = int(round(h.score * _SCORE_UNIT)) if prev is None else prev - 1
        prev = u
        out.append(Hit(qid, h.docid, u / _SCORE_UNIT, len(out) + 1, h.text))
    return out


# --------------------------------------------------------------------------- sharding
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(spec: str) -> tuple[int, int]:
    """Parse ``"i/n"`` (0-based ``i``, ``0 <= i < n``) into ``(i, n)``."""
    m = _SHARD_RE.match(spec) if isinstance(spec, str) else None
    if not m:
        raise ConfigError(f"shard must look like 'i/n' (0-based index i, n shards), got {spec!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"shard {spec!r}: need n >= 1 and 0 <= i < n (0-based), e.g. '0/{max(n, 2)}'")
    return i, n


def shard_queries(queries: Sequence[Query], shard: str) -> list[Query]:
    """Queries whose position ``p`` (0-based, input order) has ``p % n == i`` for ``shard="i/n"``."""
    i, n = parse_shard(shard)
    return [q for p, q in enumerate(queries) if p % n == i]


# --------------------------------------------------------------------------- resumable runs
def partial_paths(out_path: str | Path) -> tuple[Path, Path]:
    """``(<out>.partial, <out>.partial.done)``: the TREC lines so far and the completion log."""
    return Path(f"{out_path}.partial"), Path(f"{out_path}.partial.done")


def config_sidecar_path(run_path: str | Path) -> Path:
    """``<run>.config.json``."""
    return Path(f"{run_path}.config.json")


def _inputs_fingerprint(queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]], depth: int) -> str:
    h = hashlib.sha256()
    for q in queries:
        h.update(json.dumps(["q", q.qid, q.text], ensure_ascii=False).encode("utf-8"))
        for k, hit in enumerate(sorted(candidates.get(q.qid, ()), key=lambda x: (-x.score, x.docid))):
            h.update(json.dumps([hit.docid, repr(hit.score), hit.text if k < depth else None],
                                ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def _fsync_append(fh: IO[bytes], data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def _read_done(data: bytes, done: Path, partial: Path) -> tuple[dict | None, list[dict], int]:
    """Header, completed entries and the byte length of the valid prefix of the done log ``data``."""
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last element is b"" or a half-written line
    if not complete:
        return None, [], 0
    try:
        header = json.loads(complete[0])
    except json.JSONDecodeError:
        raise InputFormatError(done, 1, f"unreadable header; delete {done} and {partial} to start over") from None
    if not isinstance(header, dict) or header.get("format") != PARTIAL_FORMAT:
        raise InputFormatError(done, 1, f"not an optical_rerank partial-run log; delete {done} and {partial} to start over")
    entries = []
    end = 0
    for lineno, raw in enumerate(complete[1:], start=2):
        try:
            e = json.loads(raw)
            ok = isinstance(e, dict) and isinstance(e.get("qid"), str) and e.get("start") == end \
                and isinstance(e.get("end"), int) and e["end"] >= end
        except json.JSONDecodeError:
            ok = False
        if not ok:
            raise InputFormatError(done, lineno, f"corrupt completion entry; delete {done} and {partial} to start over")
        entries.append(e)
        end = e["end"]
    return header, entries, sum(len(x) + 1 for x in complete)


def _lock(fh: IO[bytes], path: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(f"{path} is locked: another process is writing this run") from None


def rerank_to_file(queries: Sequence[Query], candidates: Mapping[str, Sequence[Hit]], out_path: str | Path,
                   config: RerankConfig | None, tag: str, shard: str | None = None, *,
                   depth: int | None = None, reranker: CrossEncoderReranker | None = None) -> Path:
    """Rerank queries into a TREC run, resumably; write ``<out>.config.json`` beside it.

    Parameters
    ----------
    queries : all queries (input order is the run's query order); ``shard`` selects a subset.
    candidates : ``{qid: hits}`` with text (see :meth:`CrossEncoderReranker.rerank`).
    out_path : the run file; written atomically once every query is done.
    config : the reranking config (``None`` only with ``reranker``, whose config is then used).
    tag : run tag (one word).
    shard : ``"i/n"`` to rerank only :func:`shard_queries` ``(queries, shard)``; merge the shard
        runs with :func:`merge_runs`.
    depth : overrides ``config.depth`` (the recorded config carries the value used).
    reranker : an already built reranker (its ``config`` must equal ``config``, ``depth`` aside,
        when both are given).

    Returns
    -------
    pathlib.Path
        ``out_path``.

    Notes
    -----
    Progress lives in ``<out>.partial`` / ``<out>.partial.done`` (see :func:`partial_paths`). A
    restart with the same config (all fields but ``show_progress``), tag, shard and inputs resumes;
    anything else is refused with :class:`~optical_rerank.errors.ConfigError` naming what differs.
    """
    if not isinstance(tag, str) or not tag or any(c.isspace() for c in tag):
        raise ConfigError(f"run tag must be a non-empty word, got {tag!r}")
    if reranker is not None:
        if config is not None:
            mine, theirs = config.identity(), reranker.config.identity()
            mine.pop("depth")
            theirs.pop("depth")
            if mine != theirs:
                raise ConfigError(f"rerank_to_file: config differs from reranker.config: {_diff(mine, theirs)}")
        else:
            config = reranker.config
    if config is None:
        raise ConfigError("rerank_to_file: give a RerankConfig (or a reranker)")
    if depth is not None and depth != config.depth:
        config = dataclasses.replace(config, depth=depth)
    todo_queries = shard_queries(queries, shard) if shard is not None else list(queries)
    qids = [q.qid for q in todo_queries]
    if len(set(qids)) != len(qids):
        dup = next(q for q in qids if qids.count(q) > 1)
        raise RerankInputError(f"query {dup!r} given twice")
    for qid in qids:
        if not qid or any(c.isspace() for c in qid):
            raise RerankInputError(f"query id {qid!r} cannot be written to a TREC run (empty or whitespace)")

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial, done = partial_paths(out_path)
    header = {"format": PARTIAL_FORMAT, "config": config.identity(), "config_sha256": config.fingerprint(),
              "inputs_sha256": _inputs_fingerprint(todo_queries, candidates, config.depth),
              "tag": tag, "shard": shard, "n_queries": len(todo_queries)}

    if not done.exists():  # fresh start (a partial without its log holds nothing finished)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        with atomic_write(done, "wb") as fh:
            fh.write(json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
        partial.write_bytes(b"")

    with open(done, "r+b") as dfh:
        _lock(dfh, done)
        old, entries, valid = _read_done(dfh.read(), done, partial)
        if old is None:  # killed while creating the log: nothing was finished
            raise InputFormatError(done, 1, f"no header; delete {done} and {partial} to start over")
        _check_header(old, header, done)
        end = entries[-1]["end"] if entries else 0
        if end == 0 and not partial.exists():  # killed between creating the log and the partial
            partial.write_bytes(b"")
        if not partial.exists() or partial.stat().st_size < end:
            raise InputFormatError(partial, None, f"shorter than {done} records ({end} bytes); "
                                   "delete both to start over")
        finished = [e["qid"] for e in entries]
        if finished != qids[: len(finished)]:
            raise InputFormatError(done, None, "finished queries are not a prefix of this run's queries; "
                                   f"delete {done} and {partial} to start over")
        dfh.truncate(valid)  # drop a half-written completion line
        dfh.seek(valid)
        with open(partial, "r+b") as pfh:
            pfh.truncate(end)  # drop a half-written block
            pfh.seek(end)
            if entries:
                logger.info("resuming %s: %d/%d queries already done", out_path, len(entries), len(todo_queries))
            offset = end
            remaining = todo_queries[len(entries):]
            if remaining and reranker is None:
                reranker = CrossEncoderReranker(None, config)
            from tqdm import tqdm  # noqa: PLC0415

            for q in tqdm(remaining, desc=f"rerank {out_path.name}", unit="q", disable=not config.show_progress):
                hits = reranker.rerank([q], candidates, depth=config.depth, show_progress=False)[q.qid]
                block = "".join(format_run_lines(q.qid, hits, tag)).encode("utf-8")
                _fsync_append(pfh, block)
                entry = {"qid": q.qid, "start": offset, "end": offset + len(block)}
                _fsync_append(dfh, json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
                offset += len(block)
            pfh.seek(0)
            data = pfh.read(offset)
        if len(data) != offset:
            raise InputFormatError(partial, None, f"expected {offset} bytes, found {len(data)}")
        with atomic_write(out_path, "wb") as fh:
            fh.write(data)
        _write_sidecar(out_path, config, tag, shard, qids)
    done.unlink()
    partial.unlink()
    return out_path


def _diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    keys = sorted(set(a) | set(b))
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)) or "(none)"


def _check_header(old: Mapping[str, Any], new: Mapping[str, Any], done: Path) -> None:
    hint = f"use the original settings, or delete {done} and {done.with_suffix('')} to start over"
    if old.get("config_sha256") != new["config_sha256"]:
        raise ConfigError(f"{done}: the partial run was made with a different config "
                          f"({_diff(old.get('config') or {}, new['config'])}); {hint}")
    for key in ("tag", "shard"):
        if old.get(key) != new[key]:
            raise ConfigError(f"{done}: the partial run was made with {key}={old.get(key)!r}, now {new[key]!r}; {hint}")
    if old.get("inputs_sha256") != new["inputs_sha256"]:
        raise ConfigError(f"{done}: the partial run was made from different queries/candidates; {hint}")


def _write_sidecar(run_path: Path, config: RerankConfig, tag: str, shard: str | None, qids: list[str]) -> None:
    write_json_atomic(config_sidecar_path(run_path), {
        "format": SIDECAR_FORMAT, "config": config.identity(), "config_sha256": config.fingerprint(),
        "tag": tag, "shard": shard, "qids": qids})


def read_run_sidecar(run_path: str | Path) -> dict[str, Any] | None:
    """The ``<run>.config.json`` written by :func:`rerank_to_file` / :func:`merge_runs`, or ``None``."""
    p = config_sidecar_path(run_path)
    if not p.is_file():
        return None
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(p, None, f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != SIDECAR_FORMAT or not isinstance(obj.get("qids"), list):
        raise InputFormatError(p, None, f"not an optical_rerank run sidecar (format {SIDECAR_FORMAT!r})")
    return obj


# --------------------------------------------------------------------------- merging
def _run_blocks(path: Path) -> dict[str, list[str]]:
    """TREC lines of a run grouped by qid (file order); queries must be contiguous."""
    blocks: dict[str, list[str]] = {}
    last = None
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise InputFormatError(path, lineno, f"expected 6 columns (qid Q0 docid rank score tag), found {len(parts)}")
        qid = parts[0]
        if qid != last and qid in blocks:
            raise InputFormatError(path, lineno, f"lines of query {qid!r} are not contiguous")
        last = qid
        blocks.setdefault(qid, []).append(line + "\n")
    return blocks


def merge_runs(paths: Sequence[str | Path], out_path: str | Path) -> int:
    """Join shard runs into one run, identical to the single-process run.

    With the ``<run>.config.json`` sidecars of :func:`rerank_to_file`, the shards (in any order)
    must share config and tag, and cover ``0/n .. n-1/n`` exactly once; queries are interleaved
    back into their original order and a merged sidecar is written. Without sidecars the runs
    are concatenated in the given order. A qid in two inputs is an error.

    Returns
    -------
    int
        The number of queries in the merged run.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ConfigError("merge_runs: no input runs")
    out_path = Path(out_path)
    if any(p.resolve() == out_path.resolve() for p in paths):
        raise ConfigError(f"merge_runs: output {out_path} is also an input")
    blocks = [_run_blocks(p) for p in paths]
    owner: dict[str, Path] = {}
    for p, b in zip(paths, blocks):
        for qid in b:
            if qid in owner:
                raise InputFormatError(p, None, f"query {qid!r} is also in {owner[qid]}; shards must not overlap")
            owner[qid] = p
    sidecars = [read_run_sidecar(p) for p in paths]
    have = [s is not None for s in sidecars]
    if any(have) and not all(have):
        missing = [str(p) for p, h in zip(paths, have) if not h]
        raise ConfigError(f"merge_runs: some inputs have a .config.json sidecar and some do not ({missing})")

    merged_sidecar = None
    if all(have):
        first = sidecars[0]
        for p, s in zip(paths, sidecars):
            for key in ("config_sha256", "tag"):
                if s.get(key) != first.get(key):
                    raise ConfigError(f"merge_runs: {p} has {key}={s.get(key)!r}, {paths[0]} has {first.get(key)!r}")
            listed = set(s["qids"])
            for qid in blocks[paths.index(p)]:
                if qid not in listed:
                    raise InputFormatError(p, None, f"query {qid!r} is not listed in its sidecar")
        specs = [s.get("shard") for s in sidecars]
        if all(sp is not None for sp in specs):
            parsed = [parse_shard(sp) for sp in specs]
            ns = {n for _, n in parsed}
            if len(ns) != 1:
                raise ConfigError(f"merge_runs: shards of different splits {sorted(specs)}")
            n = ns.pop()
            idx = [i for i, _ in parsed]
            if sorted(idx) != list(range(n)):
                missing = sorted(set(range(n)) - set(idx))
                dupes = sorted({i for i in idx if idx.count(i) > 1})
                raise ConfigError(f"merge_runs: need shards 0..{n - 1} of {n} exactly once; "
                                  f"missing {missing}, repeated {dupes}")
            by_index = {i: s["qids"] for (i, _), s in zip(parsed, sidecars)}
            qids = [by_index[i][k] for k in range(max(len(v) for v in by_index.values()))
                    for i in range(n) if k < len(by_index[i])]
        elif any(sp is not None for sp in specs):
            raise ConfigError(f"merge_runs: mixing shard runs and unsharded runs ({specs})")
        else:
            qids = [q for s in sidecars for q in s["qids"]]
        if len(set(qids)) != len(qids):
            raise ConfigError("merge_runs: a query id appears in two sidecars; shards must not overlap")
        merged_sidecar = dict(first, shard=None, qids=qids)
    else:
        qids = [q for b in blocks for q in b]

    all_blocks = {q: lines for b in blocks for q, lines in b.items()}
    with atomic_write(out_path) as fh:
        for qid in qids:
            fh.writelines(all_blocks.get(qid, ()))
    if merged_sidecar is not None:
        write_json_atomic(config_sidecar_path(out_path), merged_sidecar)
    return len(qids)


# --------------------------------------------------------------------------- pyserini
def hits_from_pyserini(qid: str, pyserini_hits: Iterable[Any]) -> list[Hit]:
    """Convert Pyserini ``LuceneSearcher.search`` results into :class:`Hit` lists (duck-typed).

    See :func:`optical_rerank.first_stage.hits_from_searcher_results`, which this calls.
    """
    from .first_stage import hits_from_searcher_results

    return hits_from_searcher_results(qid, pyserini_hits)
