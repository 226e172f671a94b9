"""Inference backends of the rerankers: torch, ONNX Runtime and OpenVINO, in fp32, bf16 or int8.

Every backend runs the *same weights* (the model directory's ``model.safetensors``):

* ``torch``: the model itself (fp32 through the exact fast path of :mod:`._fast_cpu`, int8 as
  dynamic quantization of the ``Linear`` layers, bf16 as the model cast to bfloat16);
* ``onnx``: ``torch.onnx.export`` of the model, then ONNX Runtime's offline transformer fusions
  (``onnxruntime.transformers.optimizer``: attention, GELU, LayerNorm, bias), and for int8
  ``onnxruntime.quantization.quantize_dynamic`` (int8 weights, activations quantized per batch)
  of the fused graph; fp32 and int8 only (ONNX Runtime's CPU kernels have no bf16 path);
* ``openvino``: ``openvino.convert_model`` of the exported ONNX graph, compiled for the CPU with
  the inference precision hint ``f32`` or ``bf16`` (``bf16`` only on CPUs with native bf16,
  :func:`cpu_has_native_bf16`). No int8: OpenVINO ran the ONNX Runtime dynamic-int8 graph at less
  than half ONNX Runtime's speed and further from fp32, and its own int8 (NNCF post-training
  quantization) needs a calibration set chosen per task; use ``onnx`` int8 (or ``openvino`` bf16).

Exports are cached under ``cache_dir()/exports/<sha256 of the weights>/<kind>-<backend>-<precision>/``
(:func:`export_model`): built in a staged directory under a directory lock
(:mod:`optical_rerank.files`), with ``export.json`` recording the source, the weights' sha256 and
the library versions; a cached export is reused only when all of them match.

The runners (:func:`load_runner`) take padded numpy batches: the rerankers sort windows by
length and pad each batch only to its longest member (length-sorted buckets), whatever the backend.

``kind`` is ``"cross-encoder"`` (output: the classifier's logits) or ``"encoder"`` (output: the
mean-pooled, L2-normalised embedding of an E5-style bi-encoder, pooling inside the graph).

OpenVINO telemetry is switched off before ``openvino`` is first imported
(:func:`import_openvino`): its sender forks a process per event from a multi-threaded process,
which could deadlock and keep the interpreter from exiting.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelError
from ..files import dir_lock, remove_stale, staged_dir, write_json_atomic
from ..paths import cache_dir
from ..provenance import package_versions

__all__ = ["BACKENDS", "PRECISIONS", "KINDS", "CPU_DEFAULTS", "cpu_has_native_bf16", "check_backend",
           "default_backend", "export_model", "load_runner", "import_openvino", "Runner"]

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "openvino")
PRECISIONS = ("fp32", "bf16", "int8")
KINDS = ("cross-encoder", "encoder")
EXPORT_FORMAT = "optical_rerank.export/1"
ONNX_OPSET = 17

#: The CPU default ``(backend, precision)``: the fastest backend whose dev nDCG@10 is within 0.005
#: of torch fp32, per CPU capability; measured by ``scripts/backend_default.py`` into
#: ``results/bench/backend_default.json`` (a test checks that this table matches the file).
#: Measured on an idle 2-core CPU with native bf16 (20 AfriQA dev questions x 10, the shipped teacher
#: with its e5 fusion): OpenVINO bf16 kept nDCG@10 and was fastest (20.5 pairs/s, torch fp32 9.2);
#: without bf16, torch fp32 was fastest (OpenVINO fp32 7.6, ONNX fp32 4.4); ONNX Runtime int8
#: (-0.0056) and torch int8 (-0.0256) fell outside the tolerance.
CPU_DEFAULTS: Mapping[str, tuple[str, str]] = {
    "native-bf16": ("openvino", "bf16"),
    "no-bf16": ("torch", "fp32"),
}


# --------------------------------------------------------------------------- capabilities
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (``avx512_bf16`` or AMX ``amx_bf16`` in /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def check_backend(backend: str, precision: str, device: str) -> None:
    """A :class:`ConfigError` for a combination that cannot run (before anything is loaded)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in PRECISIONS + ("fp16",):
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if backend == "torch":
        return
    if device.startswith("cuda"):
        raise ConfigError(f"backend={backend!r} runs on the CPU; on a GPU use backend='torch' with bf16 or fp16")
    if precision == "fp16":
        raise ConfigError(f"backend={backend!r}: fp16 is a GPU precision; use fp32, bf16 or int8")
    if backend == "onnx" and precision == "bf16":
        raise ConfigError("backend='onnx' has no bf16 on CPU (ONNX Runtime's CPU kernels); use fp32 or int8, "
                          "or backend='openvino' for bf16")
    if backend == "openvino" and precision == "int8":
        raise ConfigError("backend='openvino' has no int8 here (NNCF quantization needs a calibration set); "
                          "use backend='onnx' for int8, or openvino with fp32 or bf16")
    if precision == "bf16" and not cpu_has_native_bf16():
        raise ConfigError("precision='bf16' needs a CPU with native bf16 (avx512_bf16 or amx_bf16 flags); "
                          "this one has neither: use fp32 or int8")


def default_backend(device: str = "cpu") -> tuple[str, str]:
    """``(backend, precision)`` used when neither is asked for: the measured CPU default
    (:data:`CPU_DEFAULTS`, by CPU capability), or torch bf16 on a GPU."""
    if device.startswith("cuda"):
        return "torch", "bf16"
    return CPU_DEFAULTS["native-bf16" if cpu_has_native_bf16() else "no-bf16"]


# --------------------------------------------------------------------------- openvino
def _silence_openvino_telemetry() -> None:
    """Keep OpenVINO's telemetry from sending anything (and so from forking a sender process).

    OpenVINO falls back to its own no-op ``openvino.tools.ovc.telemetry_stub`` when
    ``openvino_telemetry`` cannot be imported; a ``None`` entry in ``sys.modules`` makes that
    import fail. Where the package was already imported, its sender is replaced by a no-op.
    """
    if "openvino_telemetry" not in sys.modules:
        sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]
        sys.modules["openvino_telemetry.backend"] = None  # type: ignore[assignment]
        return
    mod = sys.modules["openvino_telemetry"]
    if mod is None:
        return
    try:
        from openvino_telemetry.backend import backend_ga4  # heavy

        backend_ga4.GA4Backend.send = lambda self, message: None  # type: ignore[method-assign]
    except Exception:  # noqa: BLE001 - another telemetry version: leave it
        logger.debug("could not silence openvino_telemetry")


def import_openvino() -> Any:
    """``import openvino`` with its telemetry switched off first (see the module docstring)."""
    _silence_openvino_telemetry()
    try:
        import openvino as ov  # heavy
    except ImportError as exc:
        raise ConfigError(f"backend='openvino' needs the openvino package ({exc}); pip install openvino") from None
    return ov


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class _Spec:
    kind: str
    backend: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.backend}-{self.precision}"


def _versions() -> dict[str, str]:
    return package_versions(("torch", "transformers", "onnx", "onnxruntime", "openvino"), missing="-")


def _input_names(model_dir: Path) -> list[str]:
    from ..models import load_tokenizer

    tok = load_tokenizer(str(model_dir))
    names = [k for k in tok.model_input_names if k in ("input_ids", "attention_mask", "token_type_ids")]
    return [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in names]


def _torch_module(model_dir: Path, kind: str) -> Any:
    """The fp32 torch module to export: logits of the classifier, or the pooled normalised embedding."""
    import torch  # heavy

    if kind == "cross-encoder":
        from ._cross_encoder import load_cross_encoder

        _tok, model, _missing = load_cross_encoder(str(model_dir))
    else:
        from ..models import load_encoder

        _tok, model = load_encoder(str(model_dir))
    model = model.eval().float()

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            kw = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
            if kind == "cross-encoder":
                return out.logits
            hidden = out.last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            return torch.nn.functional.normalize(pooled, dim=-1)

    return Wrapped().eval(), model.config


def _export_onnx(model_dir: Path, kind: str, out: Path) -> dict[str, Any]:
    """fp32 ONNX graph ``out/model.onnx`` of the model (TorchScript exporter, dynamic batch and length)."""
    import torch  # heavy

    names = _input_names(model_dir)
    module, config = _torch_module(model_dir, kind)
    example = tuple(torch.ones((2, 8), dtype=torch.long) if n != "token_type_ids" else torch.zeros((2, 8), dtype=torch.long)
                    for n in names)
    axes = {n: {0: "batch", 1: "length"} for n in names}
    axes["output"] = {0: "batch"}
    import warnings

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(out / "model.onnx"), input_names=names, output_names=["output"],
                          dynamic_axes=axes, opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False)
    return {"inputs": names, "num_heads": int(config.num_attention_heads), "hidden_size": int(config.hidden_size),
            "model_type": str(getattr(config, "model_type", "bert"))}


def _fuse_onnx(src: Path, dst: Path, meta: Mapping[str, Any]) -> None:
    """ONNX Runtime's offline transformer fusions (attention, GELU, LayerNorm, bias)."""
    from onnxruntime.transformers.optimizer import optimize_model  # heavy

    mt = "bert" if meta["model_type"] in ("bert", "xlm-roberta", "roberta", "camembert") else meta["model_type"]
    fused = optimize_model(str(src), model_type=mt, num_heads=meta["num_heads"], hidden_size=meta["hidden_size"],
                           opt_level=1, use_gpu=False, only_onnxruntime=False)
    fused.save_model_to_file(str(dst))


def _quantize_onnx(src: Path, dst: Path) -> None:
    import onnx  # heavy
    from onnxruntime.quantization import QuantType, quantize_dynamic  # heavy

    # the fused graph has contrib ops that shape inference does not type: their outputs are float
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _build(model_dir: Path, spec: _Spec, tmp: Path) -> dict[str, Any]:
    """Write the files of ``spec`` into ``tmp``; returns the metadata for ``export.json``."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=tmp.parent, prefix=".raw-") as raw_dir:
        raw = Path(raw_dir)
        meta = _export_onnx(model_dir, spec.kind, raw)
        if spec.backend == "onnx" or spec.precision == "int8":
            _fuse_onnx(raw / "model.onnx", raw / "fused.onnx", meta)
            if spec.precision == "int8":
                _quantize_onnx(raw / "fused.onnx", raw / "int8.onnx")
        if spec.backend == "onnx":
            src = raw / ("int8.onnx" if spec.precision == "int8" else "fused.onnx")
            src.replace(tmp / "model.onnx")
            meta["file"] = "model.onnx"
        else:
            ov = import_openvino()
            ov.save_model(ov.convert_model(str(raw / "model.onnx")), str(tmp / "model.xml"), compress_to_fp16=False)
            meta["file"] = "model.xml"
    return meta


def export_model(model_dir: str | Path, backend: str, precision: str, kind: str = "cross-encoder",
                 weights_sha256: str | None = None) -> Path:
    """The cached export of ``model_dir`` for ``backend``/``precision``/``kind`` (built when missing).

    Returns the export directory (``export.json`` plus ``model.onnx`` or ``model.xml``/``.bin``).
    A cached export is used only when its ``export.json`` names the same weights' sha256, kind,
    backend, precision and library versions; otherwise it is rebuilt (staged, under a lock).
    """
    from ._writer import model_weights_sha256

    if backend not in ("onnx", "openvino"):
        raise ConfigError(f"export_model: backend must be 'onnx' or 'openvino', got {backend!r}")
    if kind not in KINDS:
        raise ConfigError(f"export_model: kind must be one of {KINDS}, got {kind!r}")
    model_dir = Path(model_dir)
    sha = weights_sha256 or model_weights_sha256(model_dir)
    if sha is None:
        raise ModelError(f"{model_dir}: no model.safetensors to export (backend={backend!r} needs a local model directory)")
    spec = _Spec(kind, backend, precision)
    final = cache_dir() / "exports" / sha / spec.name
    want = {"format": EXPORT_FORMAT, "weights_sha256": sha, "kind": kind, "backend": backend,
            "precision": precision, "versions": _versions()}

    def current() -> dict[str, Any] | None:
        try:
            meta = json.loads((final / "export.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in want.items()):
            return None
        return meta if (final / str(meta.get("file", ""))).is_file() else None

    if current() is not None:
        return final
    with dir_lock(final):
        if current() is not None:
            return final
        remove_stale(final)
        logger.info("exporting %s to %s (%s %s)", model_dir, backend, kind, precision)
        with staged_dir(final) as tmp:
            meta = _build(model_dir, spec, tmp)
            write_json_atomic(tmp / "export.json", {**want, **meta, "source": str(model_dir)})
    return final


# --------------------------------------------------------------------------- runners
class Runner:
    """A compiled export: ``runner(batch) -> float32 array`` of a padded numpy batch (``{name: int64 array}``)."""

    backend: str = ""
    precision: str = ""
    inputs: tuple[str, ...] = ()

    def __call__(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class _OnnxRunner(Runner):
    backend = "onnx"

    def __init__(self, path: Path, meta: Mapping[str, Any], threads: int):
        import onnxruntime as ort  # heavy

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path / meta["file"]), opts, providers=["CPUExecutionProvider"])
        self.inputs = tuple(i.name for i in self.session.get_inputs())
        self.precision = str(meta["precision"])

    def __call__(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        feed = {k: np.ascontiguousarray(batch[k], dtype=np.int64) for k in self.inputs}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


class _OpenVinoRunner(Runner):
    backend = "openvino"

    def __init__(self, path: Path, meta: Mapping[str, Any], threads: int):
        ov = import_openvino()
        core = ov.Core()
        model = core.read_model(str(path / meta["file"]))
        self.precision = str(meta["precision"])
        hint = "bf16" if self.precision == "bf16" else "f32"
        self.compiled = core.compile_model(model, "CPU", {
            "INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": int(threads), "NUM_STREAMS": 1})
        self.request = self.compiled.create_infer_request()
        self.inputs = tuple(p.get_any_name() for p in self.compiled.inputs)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        feed = {k: np.ascontiguousarray(batch[k], dtype=np.int64) for k in self.inputs}
        res = self.request.infer(feed)
        return np.array(res[self.compiled.outputs[0]], dtype=np.float32)


def load_runner(model_dir: str | Path, backend: str, precision: str, kind: str = "cross-encoder",
                threads: int | None = None, weights_sha256: str | None = None) -> Runner:
    """Export (cached) and compile ``model_dir`` for ``backend``/``precision``; ``threads``: torch's count by default."""
    import torch  # heavy

    check_backend(backend, precision, "cpu")
    if backend == "torch":
        raise ConfigError("load_runner: the torch backend runs the model itself")
    path = export_model(model_dir, backend, precision, kind, weights_sha256)
    meta = json.loads((path / "export.json").read_text(encoding="utf-8"))
    n = int(threads or torch.get_num_threads())
    runner = (_OnnxRunner if backend == "onnx" else _OpenVinoRunner)(path, meta, n)
    return runner
