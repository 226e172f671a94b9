"""A sentence-transformers ``CrossEncoder`` scorer in its own process, for ``bench rerank``.

sentence-transformers' ONNX backend needs ``optimum-onnx``, which cannot live beside this
project's transformers 5.x; ``scripts/setup_st_onnx.sh`` builds a side venv where it can. The
benchmark starts this file with that venv's Python (``python _st_worker.py --model DIR --mode
onnx-int8 ...``) and keeps it alive, so its passes interleave with the other scorers'. It imports
nothing from ``optical_rerank`` (a plain script, standard library and sentence-transformers only).

Modes:

* ``torch-fp32``: ``CrossEncoder(dir)``, the model in torch;
* ``onnx-int8``: ``CrossEncoder(dir, backend="onnx")`` exported by optimum, then
  ``export_dynamic_quantized_onnx_model(model, "avx512_vnni", dir)`` and the quantized file loaded
  (the documented way to run a CrossEncoder in int8 on CPU);
* ``openvino-fp32``: ``CrossEncoder(dir, backend="openvino")`` (needs optimum-intel).

The model directory is linked into a temporary copy first (the exports are written into it); a
transformers 5 ``tokenizer_config.json`` naming ``TokenizersBackend`` is rewritten there to 4.x's
name for the same ``tokenizer.json`` tokenizer, ``PreTrainedTokenizerFast``.

Protocol (JSON lines): the worker writes ``@@ {"ready": true, ...}`` when loaded; each request
line ``{"pairs": [[q, p], ...]}`` gets ``@@ {"scores": [...], "seconds": s}``; an empty line or
EOF ends it. Only lines starting with ``@@ `` belong to the protocol (libraries may print too).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

MODES = ("torch-fp32", "onnx-int8", "openvino-fp32")


def _say(obj: dict) -> None:
    sys.stdout.write("@@ " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _load(args: argparse.Namespace, tmp: Path):
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(args.threads)
    common = {"num_labels": args.num_labels, "activation_fn": torch.nn.Identity(), "max_length": args.max_length,
              "device": "cpu", "local_files_only": True}
    work = tmp / "model"
    work.mkdir()
    for f in Path(args.model).iterdir():
        if f.is_file() and f.name != "tokenizer_config.json":
            os.symlink(f.resolve(), work / f.name)
    tok_cfg = Path(args.model) / "tokenizer_config.json"
    if tok_cfg.is_file():
        cfg = json.loads(tok_cfg.read_text(encoding="utf-8"))
        import transformers

        if cfg.get("tokenizer_class") == "TokenizersBackend" and int(transformers.__version__.split(".")[0]) < 5:
            # transformers 5's name for a tokenizer.json-only tokenizer; 4.x calls it PreTrainedTokenizerFast
            cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        (work / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    if args.mode == "torch-fp32":
        return CrossEncoder(str(work), **common)
    if args.mode == "openvino-fp32":
        return CrossEncoder(str(work), backend="openvino", **common)
    import onnxruntime as ort
    from sentence_transformers import export_dynamic_quantized_onnx_model

    model = CrossEncoder(str(work), backend="onnx", **common)
    export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(work))
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    return CrossEncoder(str(work), backend="onnx", model_kwargs={
        "file_name": "onnx/model_qint8_avx512_vnni.onnx", "session_options": so}, **common)


def main() -> int:
    p = argparse.ArgumentParser(description="sentence-transformers CrossEncoder scorer worker")
    p.add_argument("--model", required=True)
    p.add_argument("--mode", choices=MODES, required=True)
    p.add_argument("--max-length", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--num-labels", type=int, default=1)
    args = p.parse_args()
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="st-worker-") as tmp:
        t0 = time.perf_counter()
        model = _load(args, Path(tmp))
        import importlib.metadata as md

        versions = {k: md.version(k) for k in ("sentence-transformers", "transformers", "torch", "onnxruntime")
                    if _has(md, k)}
        for k in ("optimum", "optimum-onnx", "optimum-intel"):
            if _has(md, k):
                versions[k] = md.version(k)
        _say({"ready": True, "load_seconds": time.perf_counter() - t0, "versions": versions, "mode": args.mode})
        for line in sys.stdin:
            if not line.strip():
                break
            pairs = [tuple(x) for x in json.loads(line)["pairs"]]
            t = time.perf_counter()
            s = np.asarray(model.predict(pairs, batch_size=args.batch_size, show_progress_bar=False,
                                         convert_to_numpy=True), dtype=np.float64)
            dt = time.perf_counter() - t
            if args.num_labels == 2:
                s = s[:, 1] - s[:, 0]
            _say({"scores": s.reshape(-1).tolist(), "seconds": dt})
    return 0


def _has(md, name: str) -> bool:
    try:
        md.version(name)
        return True
    except md.PackageNotFoundError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
