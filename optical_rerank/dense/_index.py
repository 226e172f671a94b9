"""Encoding a collection into a FAISS index with ``pyserini.encode --to-faiss`` (cached by content)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigError
from ..files import dir_lock, sha256_file, sha256_json, staged_dir, write_json_atomic
from ..first_stage import load_corpus_texts
from ..models import resolve_model, weights_sha256
from ._config import DenseConfig

KEY_FILE = "key.json"


def _weights_sha256(model_dir: str) -> str:
    sha = weights_sha256(model_dir)  # the package's one weights hash (memoised per process)
    if sha is None:
        raise ConfigError(f"{model_dir}: no model.safetensors weights to encode with")
    return sha


def index_key(corpus: str | Path, config: DenseConfig) -> dict:
    """What a dense index is made of: the collection's and weights' sha256 and the settings."""
    model_dir = resolve_model(config.model)
    return {"corpus_sha256": sha256_file(corpus), "model_sha256": _weights_sha256(model_dir),
            "passage_prefix": config.passage_prefix, "max_length": config.max_length,
            "pooling": "mean", "l2_norm": True, "encoder": "pyserini.encode --to-faiss (auto)"}


def encode_input(corpus: str | Path, out: str | Path) -> Path:
    """The collection as ``pyserini.encode`` input: ``{"id", "text"}`` JSONL, the text as the
    rerankers see it (:func:`~optical_rerank.first_stage.load_corpus_texts`: title, newline, contents),
    shortest first so that each of Pyserini's batches pads little (the index order does not matter:
    every vector keeps its docid)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for docid, text in sorted(load_corpus_texts(corpus).items(), key=lambda kv: (len(kv[1]), kv[0])):
            fh.write(json.dumps({"id": docid, "text": text}, ensure_ascii=False) + "\n")
    return out


def dense_index(corpus: str | Path, root: str | Path, config: DenseConfig | None = None, *,
                quiet: bool = True) -> Path:
    """The FAISS index of ``corpus`` under ``root/dense-<key>``, encoded once by ``pyserini.encode``.

    The key (:func:`index_key`) covers the collection bytes, the model weights and the settings,
    so a changed collection or model encodes again and never reuses stale vectors. Encoding runs
    ``python -m optical_rerank.pyserini pyserini.encode input ... output --embeddings DIR --to-faiss
    encoder --encoder MODEL_DIR --encoder-class auto --pooling mean --l2-norm --prefix 'passage:'``
    in a child process (Pyserini's own command, on CPU), staged and renamed into place.
    """
    config = config or DenseConfig()
    key = index_key(corpus, config)
    out = Path(root) / f"dense-{sha256_json(key)[:12]}"
    if (out / KEY_FILE).is_file() and (out / "index").is_file():
        return out
    with dir_lock(out):
        if (out / KEY_FILE).is_file() and (out / "index").is_file():
            return out
        model_dir = resolve_model(config.model)
        with staged_dir(out) as tmp:
            text = encode_input(corpus, tmp / "input" / "corpus.jsonl").resolve()
            dim = int(json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))["hidden_size"])
            cmd = [sys.executable, "-m", "optical_rerank.pyserini", "pyserini.encode",
                   "input", "--corpus", str(text), "--fields", "text",
                   "output", "--embeddings", str(Path(tmp).resolve()), "--to-faiss",
                   "encoder", "--encoder", model_dir, "--encoder-class", "auto", "--fields", "text",
                   "--pooling", "mean", "--l2-norm", "--prefix", config.passage_prefix,
                   "--max-length", str(config.max_length), "--batch-size", str(config.batch_size),
                   "--dimension", str(dim), "--device", "cpu"]
            env = {**os.environ, "OMP_NUM_THREADS": str(config.threads)}
            proc = subprocess.run(cmd, env=env, capture_output=quiet, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr or "")[-2000:] if quiet else ""
                raise ConfigError(f"pyserini.encode failed (exit {proc.returncode}) on {corpus}: {tail}")
            (tmp / "input" / "corpus.jsonl").unlink()
            (tmp / "input").rmdir()
            write_json_atomic(tmp / KEY_FILE, {**key, "config": config.to_dict(), "command": cmd[1:]})
    return out
