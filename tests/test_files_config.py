"""The shared helpers: atomic files, staged directories, locks, hashes (files.py); configs (config.py)."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import stat
import sys
from dataclasses import dataclass

import pytest

from optical_rerank import config, files
from optical_rerank.errors import ConfigError


# --------------------------------------------------------------------------- files
def test_atomic_write_keeps_old_content_on_failure(tmp_path):
    p = tmp_path / "sub" / "a.json"
    files.write_json_atomic(p, {"b": "é", "a": 1})
    assert p.read_text(encoding="utf-8") == '{\n  "a": 1,\n  "b": "é"\n}\n'
    with pytest.raises(RuntimeError), files.atomic_write(p) as fh:
        fh.write("partial")
        raise RuntimeError
    assert json.loads(p.read_text(encoding="utf-8")) == {"a": 1, "b": "é"}
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.json"]


def test_staged_dir_publishes_replaces_and_cleans_up(tmp_path):
    final = tmp_path / "out"
    with files.staged_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.tmp-")
        (tmp / "x").write_text("1")
    assert (final / "x").read_text() == "1"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(final.stat().st_mode) == 0o777 & ~mask  # not mkdtemp's private 0700
    with files.staged_dir(final) as tmp:
        (tmp / "y").write_text("2")
    assert sorted(p.name for p in final.iterdir()) == ["y"]
    with pytest.raises(KeyError), files.staged_dir(final) as tmp:
        (tmp / "z").write_text("3")
        raise KeyError
    assert sorted(p.name for p in final.iterdir()) == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (tmp_path / ".out.tmp-dead").mkdir()
    (tmp_path / ".out.old-dead").mkdir()
    files.remove_stale(final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_dir_lock_excludes_other_holders(tmp_path):
    final = tmp_path / "model"
    with files.dir_lock(final):
        assert (tmp_path / ".model.lock").is_file()
        with open(tmp_path / ".model.lock", "a+b") as other:
            assert files.lock_file(other, blocking=False) is False
    with open(tmp_path / ".model.lock", "a+b") as other:
        assert files.lock_file(other, blocking=False) is True


def test_hashes_are_the_bytes_cache_keys_were_made_of(tmp_path):
    obj = {"b": "é", "a": [1, 2.5, None], "c": {"z": True}}
    compact = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert files.sha256_json(obj) == hashlib.sha256(compact).hexdigest()
    legacy = json.dumps(obj, sort_keys=True, default=str).encode()
    assert files.sha256_json(obj, compact=False, ensure_ascii=True, default=str) == hashlib.sha256(legacy).hexdigest()
    p = tmp_path / "f.bin"
    p.write_bytes(os.urandom(3 << 20))
    assert files.sha256_file(p) == hashlib.sha256(p.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class _Cfg:
    model: str
    layers: tuple[int, ...] = (12,)
    lr: float = 1e-4

    def identity(self) -> dict:
        return {"model": self.model, "layers": list(self.layers), "lr": self.lr}


def test_from_dict_checks_keys_and_converts_tuples():
    cfg = config.from_dict(_Cfg, {"model": "m", "layers": [6, 12]}, required=("model",))
    assert cfg == _Cfg("m", (6, 12))
    with pytest.raises(ConfigError, match=r"_Cfg: unknown field\(s\) \['lr_rate'\]"):
        config.from_dict(_Cfg, {"model": "m", "lr_rate": 1})
    with pytest.raises(ConfigError, match=r"_Cfg: field\(s\) \['model'\] are required"):
        config.from_dict(_Cfg, {}, required=("model",))
    with pytest.raises(ConfigError, match="_Cfg: expected a JSON object, got list"):
        config.from_dict(_Cfg, [])
    with pytest.raises(ConfigError, match="_Cfg"):
        config.from_dict(_Cfg, {})  # the dataclass's own TypeError, named


def test_from_args_fingerprint_diff():
    ns = argparse.Namespace(model="m", layers=[3], lr=0.5, command="train", out="x")
    cfg = config.from_args(_Cfg, ns, lr=0.25)
    assert cfg == _Cfg("m", (3,), 0.25)
    assert config.fingerprint(cfg) == files.sha256_json(cfg.identity())
    assert config.fingerprint({"a": 1}) == files.sha256_json({"a": 1})
    assert config.config_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == "b: 2 -> 3, c: None -> 4"
    assert config.config_diff({"a": 1}, {"a": 1}) == "" and config.config_diff({}, {}, "(none)") == "(none)"


def test_command_line():
    assert config.command_line(["train", "--out", "a b"], "optical_rerank.teacher", python="python") == \
        "python -m optical_rerank.teacher train --out 'a b'"
    line = config.command_line(["ot"], "optical_rerank.bench")
    assert line.endswith(" -m optical_rerank.bench ot") and line.split()[0] in (sys.executable,
                                                                                os.path.relpath(sys.executable))


@dataclass(frozen=True)
class _JsonCfg(config.JsonConfig):
    model: str
    layers: tuple[int, ...] = (12,)

    def to_dict(self) -> dict:
        return {"model": self.model, "layers": list(self.layers)}

    @classmethod
    def from_dict(cls, obj):
        return config.from_dict(cls, obj, required=("model",))


def test_json_config_mixin_saves_and_loads(tmp_path):
    cfg = _JsonCfg("m", (6, 12))
    assert cfg.to_json() == '{\n  "layers": [\n    6,\n    12\n  ],\n  "model": "m"\n}\n'
    cfg.save(tmp_path / "c.json")
    assert (tmp_path / "c.json").read_text(encoding="utf-8") == cfg.to_json()
    assert _JsonCfg.load(tmp_path / "c.json") == cfg == _JsonCfg.from_json(cfg.to_json())
    with pytest.raises(ConfigError, match=r"_JsonCfg: invalid JSON: .* \(line 1\)"):
        _JsonCfg.from_json("{")
    with pytest.raises(ConfigError, match="no such config file"):
        _JsonCfg.load(tmp_path / "missing.json")


def test_value_checks():
    assert config.is_int(3) and not config.is_int(True) and not config.is_int(3.0)
    assert config.is_number(2.5) and config.is_number(1) and not config.is_number(float("nan"))
    assert not config.is_number(False) and not config.is_number("1")
    assert all(config.is_device(d) for d in ("auto", "cpu", "cuda", "cuda:1"))
    assert not any(config.is_device(d) for d in ("gpu", "cuda:", None))
    need = config.checker("XConfig")
    need(True, "unused")
    with pytest.raises(ConfigError, match="^XConfig: depth must be >= 1$"):
        need(False, "depth must be >= 1")
