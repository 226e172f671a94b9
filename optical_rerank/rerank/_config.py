"""The reranking config, the one source of query/passage templates, and run sidecars.

Templates and max length
------------------------
A text is rendered by replacing ``{text}`` in its template (E5 models expect ``"query: {text}"``
and ``"passage: {text}"``). Which templates and how many tokens a model is scored with is decided
in one place, :func:`templates_for` / :func:`max_length_for`, used by :class:`RerankConfig` (so by
the Python API and ``python -m optical_rerank.run`` alike):

1. an explicit value wins;
2. else the **model card** in the model directory (:func:`model_card`): ``teacher_config.json``
   of a trained teacher gives templates and ``max_length``; ``distill_config.json`` of a
   distilled student gives templates (its ``max_length`` is the distillation window, not a
   scoring length, so it is not used);
3. else the **default**: E5's templates for E5 models (the zoo's ``e5-small-multilingual``, or a
   directory / hub id whose name has an ``e5`` part, e.g. ``multilingual-e5-small``), ``"{text}"``
   otherwise; :data:`DEFAULT_MAX_LENGTH` tokens.

Fusion with a bi-encoder
------------------------
A cross-encoder's score may be interpolated pointwise with an E5 bi-encoder's cosine,
``s_ce(q, d) + weight * scale * cos(q, d)`` (the rule the shipped teacher's weight was chosen by
on dev, ``optical_rerank.teacher._bundle_eval.fuse_runs``). :func:`fusion_for` resolves
``(weight, scale, biencoder)`` the same way: explicit > the card's ``"fusion"`` (``{"weight",
"scale"?, "biencoder"?}``: a shipped model's ``card.json``, or ``teacher_config.json`` of a model
directory) > no fusion (weight 0; scale :data:`DEFAULT_FUSION_SCALE` and bi-encoder
:data:`DEFAULT_FUSION_BIENCODER` when a weight is given without them). With weight 0 no
bi-encoder is loaded and a run is what it was without fusion, its sidecar included.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import JsonConfig, checker, from_dict, is_device, is_int, read_config_file
from ..errors import ConfigError, InputFormatError
from ..files import sha256_json, write_json_atomic
from ..models import CARD_FILE, SHIPPED_ROOT, shipped_card, shipped_models

__all__ = ["RerankConfig", "ModelCard", "model_card", "templates_for", "max_length_for", "fusion_for",
           "render_template", "is_e5_name", "config_sidecar_path", "read_run_sidecar", "write_run_sidecar",
           "E5_TEMPLATES", "PLAIN_TEMPLATES", "DEFAULT_MAX_LENGTH", "DEFAULT_FUSION_SCALE", "DEFAULT_FUSION_BIENCODER",
           "TEACHER_CARD", "DISTILL_CARD", "SIDECAR_FORMAT"]

E5_TEMPLATES = ("query: {text}", "passage: {text}")
PLAIN_TEMPLATES = ("{text}", "{text}")
DEFAULT_MAX_LENGTH = 256
TEACHER_CARD = "teacher_config.json"
DISTILL_CARD = "distill_config.json"
E5_ZOO_NAME = "e5-small-multilingual"
SIDECAR_FORMAT = "optical_rerank.run/1"
#: The e5 bi-encoder's inverse temperature: its cosine times this is on a cross-encoder's logit scale.
DEFAULT_FUSION_SCALE = 100.0
DEFAULT_FUSION_BIENCODER = E5_ZOO_NAME
_FUSION_FIELDS = ("fusion_weight", "fusion_scale", "fusion_biencoder")

_AGGREGATIONS = ("maxp", "firstp")
_QUANTIZE = ("none", "int8")
_DTYPES = ("fp32", "bf16", "fp16")
_BACKENDS = ("torch", "onnx", "openvino")


# --------------------------------------------------------------------------- templates
def render_template(template: str, text: str) -> str:
    """``template`` with its ``{text}`` replaced by ``text`` (no other formatting)."""
    return template.replace("{text}", text)


def is_e5_name(model: str | Path | None) -> bool:
    """Whether a model name or path names an E5 model (``e5-small-multilingual``, ``*-e5-*``)."""
    if model is None:
        return False
    name = str(model).strip().rstrip("/").lower()
    return name == E5_ZOO_NAME or "e5" in Path(name).name.split("-")


@dataclass(frozen=True)
class ModelCard:
    """What a model directory records about how it must be scored (``None``: not recorded).

    ``source`` is the card file read, ``None`` when the model has no card. ``fusion_*`` come from
    the card's ``"fusion"`` entry (``weight``, ``scale``, ``biencoder``; see :func:`fusion_for`).
    """

    query_template: str | None = None
    passage_template: str | None = None
    max_length: int | None = None
    source: str | None = None
    fusion_weight: float | None = None
    fusion_scale: float | None = None
    fusion_biencoder: str | None = None


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _card_fusion(obj: Any, path: str | Path) -> dict[str, Any]:
    """The :class:`ModelCard` fusion fields of a card's ``"fusion"`` entry (``{}`` when it has none)."""
    if obj is None:
        return {}
    ok = isinstance(obj, dict) and _is_real(obj.get("weight")) and _is_real(obj.get("scale", 1.0)) \
        and (obj.get("biencoder") is None or (isinstance(obj["biencoder"], str) and obj["biencoder"].strip()))
    if not ok:
        raise InputFormatError(path, None, 'the model card\'s "fusion" must be {"weight": number, '
                               f'"scale": number (optional), "biencoder": name (optional)}}, got {obj!r}')
    scale = obj.get("scale")
    return {"fusion_weight": float(obj["weight"]), "fusion_scale": None if scale is None else float(scale),
            "fusion_biencoder": obj.get("biencoder")}


def model_card(model: str | Path | None) -> ModelCard:
    """The card of a local model directory: ``teacher_config.json``, else ``distill_config.json``.

    A shipped model's name gives its shipped card; zoo names, hub ids and directories without a
    card give an empty :class:`ModelCard`.
    """
    if model is None:
        return ModelCard()
    if str(model) in shipped_models():  # a shipped model: its card says how it was trained
        card = shipped_card(str(model))
        cfg = card["config"]
        source = str(SHIPPED_ROOT / str(model) / CARD_FILE)
        return ModelCard(cfg["query_template"], cfg["passage_template"], cfg["max_length"], source,
                         **_card_fusion(card.get("fusion"), source))
    d = Path(model).expanduser()
    for name in (TEACHER_CARD, DISTILL_CARD):
        path = d / name
        if not path.is_file():
            continue
        try:
            obj = read_config_file(path, "model card").data
        except ConfigError as exc:
            raise InputFormatError(path, None, f"unreadable model card: {str(exc).removeprefix(str(path) + ':')}") from None
        if not isinstance(obj, dict):
            raise InputFormatError(path, None, "a model card must be a JSON object")

        def text(key: str) -> str | None:
            v = obj.get(key)
            if v is not None and not (isinstance(v, str) and "{text}" in v):
                raise InputFormatError(path, None, f"{key} must be a template string containing {{text}}, got {v!r}")
            return v

        length = obj.get("max_length") if name == TEACHER_CARD else None
        if length is not None and not (is_int(length) and length >= 8):
            raise InputFormatError(path, None, f"max_length must be an integer >= 8, got {length!r}")
        fusion = _card_fusion(obj.get("fusion"), path) if name == TEACHER_CARD else {}
        return ModelCard(text("query_template"), text("passage_template"),
                         length if isinstance(length, int) and not isinstance(length, bool) else None, str(path),
                         **fusion)
    return ModelCard()


def templates_for(model: str | Path | None, query_template: str | None = None,
                  passage_template: str | None = None) -> tuple[str, str]:
    """``(query_template, passage_template)`` for ``model``: explicit > model card > default.

    Each side is decided on its own (see the module docstring for the card and the default).
    """
    card = model_card(model)
    default = E5_TEMPLATES if is_e5_name(model) else PLAIN_TEMPLATES
    return (query_template if query_template is not None else card.query_template or default[0],
            passage_template if passage_template is not None else card.passage_template or default[1])


def max_length_for(model: str | Path | None, max_length: int | None = None) -> int:
    """Tokens per (query, passage) input for ``model``: explicit > teacher card > :data:`DEFAULT_MAX_LENGTH`."""
    if max_length is not None:
        return max_length
    return model_card(model).max_length or DEFAULT_MAX_LENGTH


def fusion_for(model: str | Path | None, weight: float | None = None, biencoder: str | None = None,
               scale: float | None = None) -> tuple[float, float | None, str | None]:
    """``(weight, scale, biencoder)`` of the bi-encoder fusion for ``model``: explicit > card > default.

    Weight 0 (the default without a card's ``"fusion"``) is no fusion: ``(0.0, None, None)``.
    Otherwise the scale defaults to :data:`DEFAULT_FUSION_SCALE` and the bi-encoder to
    :data:`DEFAULT_FUSION_BIENCODER`. A NaN, infinite or negative weight (or a scale that is not
    finite and positive) is a :class:`~optical_rerank.errors.ConfigError`.
    """
    for name, v in (("fusion_weight", weight), ("fusion_scale", scale)):
        if v is not None and not _is_real(v):
            raise ConfigError(f"{name} must be a number, got {v!r}")
    if biencoder is not None and not (isinstance(biencoder, str) and biencoder.strip()):
        raise ConfigError(f"fusion_biencoder must be a non-empty model name, got {biencoder!r}")
    card = model_card(model)
    w = float(weight if weight is not None else card.fusion_weight if card.fusion_weight is not None else 0.0)
    where = "" if weight is not None else f" (from {card.source})"
    if not (math.isfinite(w) and w >= 0):
        raise ConfigError(f"fusion_weight must be a finite number >= 0, got {w}{where}")
    if w == 0:
        return 0.0, None, None
    s = float(scale if scale is not None else card.fusion_scale if card.fusion_scale is not None
              else DEFAULT_FUSION_SCALE)
    if not (math.isfinite(s) and s > 0):
        raise ConfigError(f"fusion_scale must be a finite number > 0, got {s}")
    return w, s, biencoder if biencoder is not None else card.fusion_biencoder or DEFAULT_FUSION_BIENCODER


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class RerankConfig(JsonConfig):
    """Everything that determines a reranked run.

    Parameters
    ----------
    model : zoo name (resolved by ``optical_rerank.models.resolve_model``) or a local model directory.
    max_length : tokens per (query, passage window) input, special tokens included; ``None``:
        :func:`max_length_for` (the model card, else 256).
    batch_size : windows per forward pass (windows are bucketed by length to minimise padding).
    query_template, passage_template : texts are rendered by replacing ``{text}``; ``None``:
        :func:`templates_for` (the model card, else E5's for E5 models, else ``"{text}"``).
    window : at most this many passage tokens per window; ``None``: all the room ``max_length``
        leaves after the query and the special tokens.
    stride : passage tokens shared by consecutive windows (capped at half the window).
    max_windows : score at most this many windows per passage (``None``: all).
    aggregation : ``"maxp"`` (best window) or ``"firstp"`` (first window only, i.e. truncation).
    depth : rerank the top ``depth`` first-stage candidates per query; the rest keep their
        first-stage order below them.
    threads : ``torch.set_num_threads`` value for CPU inference (``None``: leave torch's setting).
    quantize : ``"int8"``: dynamic int8 quantization of the ``Linear`` layers / matmuls (CPU only).
    dtype : ``"bf16"``/``"fp16"`` run the model in half precision (GPU; ``"bf16"`` also on CPUs with
        native bf16, with the torch or OpenVINO backend).
    backend : ``"torch"`` (the model itself), ``"onnx"`` (ONNX Runtime) or ``"openvino"``: exports of
        the same weights, cached by their sha256 (:mod:`._backends`); :attr:`precision` is
        ``quantize``/``dtype`` in one word. ``python -m optical_rerank.run`` picks the measured CPU
        default when neither is given (:func:`~._backends.default_backend`).
    device : ``"auto"`` (CUDA when available and not quantizing), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    fusion_weight, fusion_scale, fusion_biencoder : a cross-encoder's score becomes
        ``score + fusion_weight * fusion_scale * cos`` with ``cos`` the cosine of the
        ``fusion_biencoder`` (a :class:`BiEncoderReranker` model); ``None``: :func:`fusion_for`
        (the model card's ``"fusion"``, else weight 0: no fusion, and scale and bi-encoder ``None``).
    show_progress : tqdm progress bars (not part of the run's identity).

    The ``None`` fields are filled in when the config is made, so a config (and the
    ``<run>.config.json`` it is saved as) always holds the values a run used.
    """

    model: str
    max_length: int | None = None
    batch_size: int = 32
    query_template: str | None = None
    passage_template: str | None = None
    window: int | None = None
    stride: int = 64
    max_windows: int | None = None
    aggregation: str = "maxp"
    depth: int = 100
    threads: int | None = None
    quantize: str = "none"
    dtype: str = "fp32"
    device: str = "auto"
    backend: str = "torch"
    fusion_weight: float | None = None
    fusion_scale: float | None = None
    fusion_biencoder: str | None = None
    show_progress: bool = False

    def __post_init__(self) -> None:
        need = checker("RerankConfig")
        need(isinstance(self.model, str) and bool(self.model.strip()), f"model must be a non-empty string, got {self.model!r}")
        for name in ("query_template", "passage_template"):
            t = getattr(self, name)
            need(t is None or isinstance(t, str), f"{name} must be a string, got {t!r}")
        qt, pt = templates_for(self.model, self.query_template, self.passage_template)
        object.__setattr__(self, "query_template", qt)
        object.__setattr__(self, "passage_template", pt)
        if self.max_length is None:
            object.__setattr__(self, "max_length", max_length_for(self.model))
        try:
            fusion = fusion_for(self.model, self.fusion_weight, self.fusion_biencoder, self.fusion_scale)
        except ConfigError as exc:
            raise ConfigError(f"RerankConfig: {exc}") from None
        for name, value in zip(_FUSION_FIELDS, fusion):
            object.__setattr__(self, name, value)
        # no fusion where the card asks for none: the identity (sidecar, resume log) is as before fusion existed
        object.__setattr__(self, "_fusion_in_identity",
                           fusion[0] > 0 or model_card(self.model).fusion_weight is not None)
        need(is_int(self.max_length) and self.max_length >= 8, f"max_length must be an integer >= 8, got {self.max_length!r}")
        need(is_int(self.batch_size) and self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        for name in ("query_template", "passage_template"):
            t = getattr(self, name)
            need(t.count("{text}") == 1, f"{name} must contain '{{text}}' exactly once, got {t!r}")
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
        need(is_device(self.device),
             f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        need(isinstance(self.show_progress, bool), f"show_progress must be a bool, got {self.show_progress!r}")
        need(not (self.quantize == "int8" and self.device.startswith("cuda")),
             "quantize='int8' is CPU dynamic quantization; use device='cpu' or 'auto'")
        need(not (self.quantize == "int8" and self.dtype != "fp32"), "quantize='int8' requires dtype='fp32'")
        need(self.backend in _BACKENDS, f"backend must be one of {_BACKENDS}, got {self.backend!r}")
        need(not (self.dtype == "fp16" and self.device == "cpu"),
             "dtype='fp16' is for GPU inference; use dtype='fp32' or 'bf16' on CPU (or quantize='int8')")
        if self.backend != "torch" or (self.dtype == "bf16" and self.device == "cpu"):
            from ._backends import check_backend

            try:
                check_backend(self.backend, self.precision, self.device)
            except ConfigError as exc:
                raise ConfigError(f"RerankConfig: {exc}") from None

    @property
    def precision(self) -> str:
        """``"int8"`` when quantizing, else ``dtype`` (``"fp32"``, ``"bf16"``, ``"fp16"``)."""
        return "int8" if self.quantize == "int8" else self.dtype

    # ---- serialisation (to_json, from_json, save, load: optical_rerank.config.JsonConfig)
    def to_dict(self) -> dict[str, Any]:
        """The config as a plain dict (JSON-ready; :meth:`to_json` is what ``<run>.config.json`` holds
        under ``"config"``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> RerankConfig:
        """Build a config from a dict; unknown keys are an error, missing keys take defaults."""
        return from_dict(cls, obj, required=("model",))

    @classmethod
    def _config_record(cls, obj: Any) -> Any:
        """A run sidecar (``<run>.config.json``) holds the config under ``"config"``: :meth:`from_json`
        and :meth:`load` read a config file or a sidecar."""
        if isinstance(obj, dict) and obj.get("format") == SIDECAR_FORMAT and isinstance(obj.get("config"), dict):
            return obj["config"]
        return obj

    def identity(self) -> dict[str, Any]:
        """The fields that determine the run's bytes (all but ``show_progress``).

        ``backend`` is left out for ``"torch"``; the ``fusion_*`` fields are left out when there is no fusion and the model card asks for
        none (so such a run's identity is what it was before fusion existed); loading the identity
        gives the same config either way.
        """
        d = self.to_dict()
        d.pop("show_progress")
        if d["backend"] == "torch":  # torch runs keep the identity they had before backends existed
            d.pop("backend")
        if not getattr(self, "_fusion_in_identity", True):
            for name in _FUSION_FIELDS:
                d.pop(name)
        return d

    def fingerprint(self) -> str:
        """sha256 of :meth:`identity` (canonical JSON)."""
        return sha256_json(self.identity())


# --------------------------------------------------------------------------- run sidecars
def config_sidecar_path(run_path: str | Path) -> Path:
    """``<run>.config.json``."""
    return Path(f"{run_path}.config.json")


def write_run_sidecar(run_path: str | Path, config: RerankConfig, tag: str, shard: str | None,
                      qids: list[str]) -> None:
    """Write ``<run>.config.json``: the config of a run, its tag, shard and query order."""
    write_json_atomic(config_sidecar_path(run_path), {
        "format": SIDECAR_FORMAT, "config": config.identity(), "config_sha256": config.fingerprint(),
        "tag": tag, "shard": shard, "qids": qids})


def read_run_sidecar(run_path: str | Path) -> dict[str, Any] | None:
    """The ``<run>.config.json`` written by ``rerank_to_file`` / ``merge_runs``, or ``None``."""
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
