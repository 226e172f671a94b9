"""A tiny random BERT cross-encoder for tests (built offline, deterministic, in well under a second)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from optical_rerank.errors import ConfigError
from optical_rerank.files import staged_dir

__all__ = ["DEFAULT_TINY_VOCAB", "make_tiny_bert"]

DEFAULT_TINY_VOCAB: tuple[str, ...] = tuple(
    ("the a an of and to in is was for on with as by at it this that be are from or not what how "
     "query passage document berlin paris city people capital river water food music school").split())


def make_tiny_bert(out_dir: str | Path, vocab: Sequence[str] = DEFAULT_TINY_VOCAB, seed: int = 0,
                   num_labels: int = 1, hidden_size: int = 32, num_layers: int = 2,
                   max_length: int = 128) -> Path:
    """Build a tiny random ``BertForSequenceClassification`` + WordPiece tokenizer, offline.

    Parameters
    ----------
    out_dir : directory to (re)create atomically.
    vocab : whole words (lower-cased, deduplicated, order kept). ``[PAD] [UNK] [CLS] [SEP]
        [MASK]``, common punctuation, ``a-z``, ``0-9`` and their ``##`` continuations are always
        added, so any lower-case ASCII text tokenizes without ``[UNK]``.
    seed : weights are a pure function of ``seed`` and the arguments (files are byte-identical
        across runs with the same library versions); the global torch RNG is not touched.
    num_labels : size of the classification head.
    hidden_size, num_layers, max_length : model size (heads = 2, intermediate = 2 * hidden).

    Returns
    -------
    Path
        ``out_dir`` with ``config.json``, ``model.safetensors``, ``tokenizer.json``,
        ``vocab.txt`` and ``tokenizer_config.json``.
    """
    if isinstance(vocab, str):
        raise ConfigError("make_tiny_bert: vocab must be a sequence of words, not one string")
    if num_labels < 1 or hidden_size < 2 or hidden_size % 2 or num_layers < 1 or max_length < 8:
        raise ConfigError("make_tiny_bert: need num_labels >= 1, even hidden_size >= 2, num_layers >= 1, "
                          "max_length >= 8")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    words = [w.strip().lower() for w in vocab if w and w.strip()]
    bad = [w for w in words if any(c.isspace() for c in w)]
    if bad:
        raise ConfigError(f"make_tiny_bert: vocabulary entries must be single words, got {bad[:3]}")
    tokens = list(dict.fromkeys(specials + list(".,:;!?'\"()-") + words + chars + ["##" + c for c in chars]))
    ids = {t: i for i, t in enumerate(tokens)}

    tok = Tokenizer(WordPiece(ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=max_length)

    cfg = BertConfig(vocab_size=len(tokens), hidden_size=hidden_size, num_hidden_layers=num_layers,
                     num_attention_heads=2, intermediate_size=2 * hidden_size,
                     max_position_embeddings=max_length, type_vocab_size=2, num_labels=num_labels,
                     pad_token_id=ids["[PAD]"], initializer_range=0.2,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(cfg).eval()
        # re-draw every parameter explicitly so the weights do not depend on how a given
        # transformers version initialises modules
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in sorted(model.named_parameters()):
                if name.endswith("LayerNorm.weight"):
                    param.fill_(1.0)
                elif name.endswith("bias"):
                    param.zero_()
                else:
                    param.copy_(torch.randn(param.shape, generator=gen) * cfg.initializer_range)

    out_dir = Path(out_dir).expanduser().absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with staged_dir(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        fast.save_pretrained(str(tmp))
        # a class name every transformers version resolves (v5 writes "TokenizersBackend")
        tok_cfg_path = tmp / "tokenizer_config.json"
        tok_cfg = json.loads(tok_cfg_path.read_text(encoding="utf-8"))
        tok_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        tok_cfg_path.write_text(json.dumps(tok_cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return out_dir
