"""Inference backends (ONNX Runtime, OpenVINO) of the same weights: scores, caching, fusion, telemetry."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optical_rerank.errors import ConfigError
from optical_rerank.rerank import (
    CPU_DEFAULTS,
    BiEncoderReranker,
    CrossEncoderReranker,
    RerankConfig,
    cpu_has_native_bf16,
    export_model,
)
from tests._tiny import make_tiny_bert

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["what is the capital city", "river water food", "music school people"] * 3
PASSAGES = ["berlin is the capital of the city", "the river is water", "a school of music for people",
            "paris is a city", "food and water", "the music of the city", "people of berlin",
            "what is a river", "the capital"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "ce", hidden_size=32, num_layers=2)


def _scores(model: Path, **kw) -> np.ndarray:
    cfg = RerankConfig(model=str(model), batch_size=4, max_length=64, device="cpu", fusion_weight=kw.pop("fusion_weight", 0.0), **kw)
    return CrossEncoderReranker(None, cfg).score_pairs(QUERIES, PASSAGES)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_fp32_exports_match_torch(tiny, backend):
    ref = _scores(tiny)
    got = _scores(tiny, backend=backend)
    assert np.abs(ref - got).max() < 1e-4
    assert np.ptp(ref) > 1e-3  # the tiny model does not score everything alike


def test_int8_and_bf16_stay_close_to_fp32(tiny):
    ref = _scores(tiny)
    q8 = _scores(tiny, backend="onnx", quantize="int8")
    assert np.abs(ref - q8).max() < 0.1 * max(1.0, np.abs(ref).max())
    assert not np.array_equal(ref, q8)  # int8 really ran
    if cpu_has_native_bf16():
        bf = _scores(tiny, backend="openvino", dtype="bf16")
        assert np.abs(ref - bf).max() < 0.05 * max(1.0, np.abs(ref).max())
    else:
        with pytest.raises(ConfigError, match="native bf16"):
            RerankConfig(model=str(tiny), backend="openvino", dtype="bf16", device="cpu")


def test_exports_cached_by_weights_sha256(tiny, tmp_path):
    first = export_model(tiny, "onnx", "fp32")
    stamp = (first / "export.json").stat().st_mtime_ns
    assert export_model(tiny, "onnx", "fp32") == first
    assert (first / "export.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    meta = json.loads((first / "export.json").read_text())
    assert meta["weights_sha256"] == first.parent.name and meta["backend"] == "onnx"
    other = make_tiny_bert(tmp_path / "ce2", hidden_size=32, num_layers=2, seed=1)
    assert export_model(other, "onnx", "fp32").parent.name != first.parent.name
    assert not list(first.parent.glob(".*tmp-*"))  # staged directory published


def test_biencoder_and_fusion_with_backends(tiny):
    torch_be = BiEncoderReranker(None, RerankConfig(model=str(tiny), device="cpu", batch_size=4, max_length=64, fusion_weight=0.0))
    onnx_be = BiEncoderReranker(None, RerankConfig(model=str(tiny), device="cpu", batch_size=4, max_length=64, fusion_weight=0.0,
                                                   backend="onnx"))
    a, b = torch_be.score_pairs(QUERIES, PASSAGES), onnx_be.score_pairs(QUERIES, PASSAGES)
    assert np.abs(a - b).max() < 1e-5
    fused_ref = _scores(tiny, fusion_weight=0.5, fusion_biencoder=str(tiny))
    fused = _scores(tiny, fusion_weight=0.5, fusion_biencoder=str(tiny), backend="openvino")
    plain = _scores(tiny)
    assert np.abs(fused_ref - plain).max() > 1e-3  # the fusion changes the scores
    assert np.abs(fused_ref - fused).max() < 1e-3


def test_config_refuses_what_cannot_run(tiny):
    with pytest.raises(ConfigError, match="no bf16"):
        RerankConfig(model=str(tiny), backend="onnx", dtype="bf16", device="cpu")
    with pytest.raises(ConfigError, match="no int8"):
        RerankConfig(model=str(tiny), backend="openvino", quantize="int8", device="cpu")
    with pytest.raises(ConfigError, match="backend must be"):
        RerankConfig(model=str(tiny), backend="tvm")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        RerankConfig(model=str(tiny), backend="onnx", device="cuda")
    assert "backend" not in RerankConfig(model=str(tiny)).identity()  # torch runs keep their identity
    assert RerankConfig(model=str(tiny), backend="onnx").identity()["backend"] == "onnx"


def test_openvino_telemetry_leaves_no_child_process(tiny, tmp_path):
    code = f"""
import multiprocessing, os, sys
from optical_rerank.rerank import export_model
export_model({str(tiny)!r}, "openvino", "fp32")
from openvino.tools.ovc import telemetry_utils
children = open(f"/proc/{{os.getpid()}}/task/{{os.getpid()}}/children").read().split()
print(telemetry_utils.tm.__name__, len(multiprocessing.active_children()), len(children))
"""
    env = {**os.environ, "OPTICAL_RERANK_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    env.pop("CI", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "0", "0"]


def test_cpu_default_is_the_measured_one():
    data = json.loads((ROOT / "results" / "bench" / "backend_default.json").read_text())
    for capability, choice in data["defaults"].items():
        assert tuple(CPU_DEFAULTS[capability]) == (choice["backend"], choice["precision"])


def test_run_cli_backend_options(tiny):
    from optical_rerank.run import build_parser, config_from_args

    def rerank(*argv):
        args = build_parser().parse_args(["--topics", "x.tsv", "--index", "i", "--model", str(tiny), *argv])
        return config_from_args(args).rerank

    r = rerank("--backend", "onnx", "--precision", "int8")
    assert (r["backend"], r["quantize"], r["dtype"]) == ("onnx", "int8", "fp32")
    r = rerank("--precision", "fp32")
    assert "backend" not in r and r["quantize"] == "none"
    r = rerank("--device", "cpu")
    assert (r.get("backend", "torch"), "int8" if r["quantize"] == "int8" else r["dtype"]) == \
        CPU_DEFAULTS["native-bf16" if cpu_has_native_bf16() else "no-bf16"]
    with pytest.raises(ConfigError, match="disagree"):
        rerank("--precision", "bf16", "--quantize", "int8")
