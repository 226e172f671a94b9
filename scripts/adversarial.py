"""An adversarial catalogue of our own: every command fed what a hostile or careless user would give it.

``python scripts/adversarial.py [--only NAME,...] [--out results/reliability/catalogue.txt]``

Each case runs one command (``run``, ``index``, ``evaluate``, ``merge``, ``data``, ``models``,
``teacher``, ``distill``, ``experiment``, ``bench``) in a fresh directory holding small real inputs
(a JsonCollection corpus, TSV topics, TREC qrels and runs, a tiny random BERT cross-encoder from
``tests/_tiny.py``, a Lucene index) and states what must happen:

* ``error``: exit status 2, one line ``...: error: ...`` on stderr (containing the case's
  fragment), no traceback, every input unchanged (sha256 before and after), no new file;
* ``ok``: exit status 0, inputs unchanged, and the case's check of the output holds.

Most cases run in this process through :func:`optical_rerank.cli.run_cli` (the shell entry point);
kill-and-resume cases run ``python -m`` in a subprocess and kill it; full-disk and read-only cases
mount a small tmpfs (full, or read-only) where the process may mount, else patch the writer
(``os.fsync`` raising ``ENOSPC``) or run as ``nobody`` in a directory it cannot write.

Each outcome is classified as ``handled``, ``data destroyed`` (an input changed or vanished),
``silent wrong result`` (exit 0 but the output is wrong), ``traceback`` (a Python traceback or an
exit status other than 0/2), ``accepted silently`` (exit 0 where an error was due), ``stray
output`` (an error that left files behind), ``unclear error`` (exit 2 without the one expected
line) or ``refused valid input``; the table goes to ``results/reliability/catalogue.txt``.
``tests/test_adversarial.py`` runs a representative subset in CI.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CATEGORIES = ("handled", "data destroyed", "silent wrong result", "traceback", "accepted silently",
              "stray output", "unclear error", "refused valid input")

DOCS = [("d1", "the city of berlin is a capital"), ("d2", "a river in paris"),
        ("d3", "music school for people"), ("d4", "food and water in the city"),
        ("d5", "paris is the capital of music"), ("d6", "people of berlin")]
TOPICS = "q1\tcapital city\nq2\triver paris\nq3\tmusic school\n"
QRELS = "q1 0 d1 1\nq2 0 d2 1\nq3 0 d3 2\n"
CANDS = "".join(f"q{q} Q0 d{d} {r} {10 - r}.0 bm25\n" for q in (1, 2, 3) for r, d in enumerate(range(1, 7), start=1))
BITEXT = "".join(f"{x}\t{e}\tsrc\n" for x, e in [("mji wa berlin", "the city of berlin"), ("mto paris", "a river in paris"),
                                                ("shule ya muziki", "music school"), ("chakula na maji", "food and water"),
                                                ("watu wa berlin", "people of berlin"), ("mji mkuu", "the capital")])
EXPERIMENT = "name: x\nmax_queries_per_language: 5\ndepth: 10\n"
RECIPE = ("name: r\nbase:\n  backbone: e5-small-multilingual\n  epochs: 1\nvariants:\n  a:\n    lr: 0.0001\n")


# --------------------------------------------------------------------------- fixtures
class Base:
    """Inputs shared by all cases (built once): tiny model, index, a long topics file for kill tests."""

    def __init__(self, root: Path):
        self.root = root
        self._model: Path | None = None
        self._index: Path | None = None

    @property
    def model(self) -> Path:
        if self._model is None:
            from _tiny import make_tiny_bert

            self._model = make_tiny_bert(self.root / "tiny", seed=0)
        return self._model

    @property
    def index(self) -> Path:
        if self._index is None:
            from optical_rerank.first_stage import build_index

            corpus = self.root / "index-corpus.jsonl"
            corpus.write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS))
            build_index(corpus, self.root / "idx", "en", threads=1)
            self._index = self.root / "idx"
        return self._index


@dataclass
class Ctx:
    """One case's directory ``d`` with fresh copies of the small inputs."""

    d: Path
    base: Base
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.d / "corpus.jsonl").write_text("".join(json.dumps({"id": i, "contents": t}) + "\n" for i, t in DOCS))
        (self.d / "topics.tsv").write_text(TOPICS)
        (self.d / "qrels.txt").write_text(QRELS)
        (self.d / "cands.trec").write_text(CANDS)
        (self.d / "bitext.swa.tsv").write_text(BITEXT)
        (self.d / "triples.tsv").write_text("capital city\tthe city of berlin is a capital\ta river in paris\n" * 4)

    def __getattr__(self, name: str) -> Path:  # ctx.topics -> d/topics.tsv, ...
        files = {"corpus": "corpus.jsonl", "topics": "topics.tsv", "qrels": "qrels.txt", "cands": "cands.trec",
                 "bitext": "bitext.swa.tsv"}
        if name in files:
            return self.d / files[name]
        raise AttributeError(name)

    def write(self, name: str, content: str | bytes) -> Path:
        p = self.d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        return p

    def model_copy(self, name: str = "model") -> Path:
        return Path(shutil.copytree(self.base.model, self.d / name))


@dataclass
class Case:
    name: str
    command: str
    argv: Callable[[Ctx], list]
    expect: str = "error"  # error | ok
    fragment: str = ""  # in the error line (case-insensitive)
    setup: Callable[[Ctx], None] | None = None
    check: Callable[[Ctx, str], str | None] | None = None  # ok cases: None or why the output is wrong
    mode: str = "inproc"  # inproc | subprocess | special
    special: Callable[[Ctx], "Outcome"] | None = None
    allow_new: tuple[str, ...] = ()  # new files allowed after an error (glob patterns relative to d)
    note: str = ""


@dataclass
class Outcome:
    status: int | None
    stdout: str
    stderr: str
    crashed: str = ""  # an exception that escaped run_cli


MAINS = {
    "run": "optical_rerank.run:main", "index": "optical_rerank.index:main", "evaluate": "optical_rerank.evaluate:main",
    "merge": "optical_rerank.merge:main", "data": "optical_rerank.data.commands:main",
    "models": "optical_rerank.models.__main__:main", "teacher": "optical_rerank.teacher._cli:main",
    "distill": "optical_rerank.distill._cli:main", "experiment": "optical_rerank.experiment._cli:main",
    "bench": "optical_rerank.bench._registry:main",
}


def _main(command: str) -> Callable:
    import importlib

    mod, fn = MAINS[command].split(":")
    return getattr(importlib.import_module(mod), fn)


def run_inproc(command: str, argv: list) -> Outcome:
    from optical_rerank.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    status, crashed = None, ""
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = run_cli(_main(command), [str(a) for a in argv], prog=f"optical_rerank.{command}")
        except SystemExit as exc:  # argparse
            status = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - what escapes run_cli is a traceback the user would see
            crashed = traceback.format_exc()
    return Outcome(status, out.getvalue(), err.getvalue() + crashed, crashed)


def run_subprocess(command: str, argv: list, *, timeout: float = 300, user: str | None = None) -> Outcome:
    cmd = [sys.executable, "-m", f"optical_rerank.{command}", *map(str, argv)]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    return Outcome(p.returncode, p.stdout, p.stderr)


# --------------------------------------------------------------------------- snapshots and classification
def snapshot(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts:
                try:
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
                except OSError:
                    out[str(p)] = "unreadable"
    return out


def classify(case: Case, ctx: Ctx, res: Outcome, before: dict, after: dict) -> tuple[str, str]:
    if res.crashed or "Traceback (most recent call last)" in res.stderr or res.status not in (0, 2):
        last = [ln for ln in res.stderr.splitlines() if ln.strip()][-1:] or [f"status {res.status}"]
        return "traceback", last[0][:160]
    changed = sorted(p for p in before if p in after and before[p] != after[p])
    gone = sorted(p for p in before if p not in after)
    if changed or gone:
        return "data destroyed", f"changed {[Path(p).name for p in changed]} removed {[Path(p).name for p in gone]}"
    new = sorted(p for p in after if p not in before)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    if case.expect == "error":
        if res.status == 0:
            return "accepted silently", "exit 0"
        errors = [ln for ln in lines if ": error: " in ln]
        if len(errors) != 1 or (case.fragment and case.fragment.lower() not in errors[0].lower()):
            return "unclear error", (errors[-1] if errors else (lines[-1] if lines else "no message"))[:200]
        stray = [p for p in new if not any(Path(p).match(str(ctx.d / g)) for g in case.allow_new)]
        if stray:
            return "stray output", f"left {[Path(p).name for p in stray][:4]}"
        return "handled", errors[0].split(": error: ", 1)[1][:160]
    if res.status != 0:
        return "refused valid input", (lines[-1] if lines else f"status {res.status}")[:200]
    why = case.check(ctx, res.stdout) if case.check else None
    if why:
        return "silent wrong result", why[:200]
    return "handled", ctx.notes.get("detail", "ok")


def run_case(case: Case, base: Base, work: Path) -> tuple[str, str]:
    d = Path(tempfile.mkdtemp(prefix=case.name[:40] + "-", dir=work))
    ctx = Ctx(d, base)
    try:
        if case.setup:
            case.setup(ctx)
        argv = case.argv(ctx) if case.argv else []
        roots = [d, base.root]
        before = snapshot(*roots)
        if case.mode == "special":
            res = case.special(ctx)
        elif case.mode == "subprocess":
            res = run_subprocess(case.command, argv)
        else:
            res = run_inproc(case.command, argv)
        after = snapshot(*roots)
        if ctx.notes.get("before") is not None:  # a special case snapshots around its own last step
            before, after = ctx.notes["before"], ctx.notes["after"]
        return classify(case, ctx, res, before, after)
    except Exception:  # noqa: BLE001 - a broken case must not stop the catalogue
        return "traceback", "case setup/run failed: " + traceback.format_exc().strip().splitlines()[-1][:160]
    finally:
        for mnt in ctx.notes.get("mounts", []):
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


# --------------------------------------------------------------------------- helpers for cases
def rerank_args(ctx: Ctx, out: Path | str, model: Path | str | None = None, *extra) -> list:
    return ["--topics", ctx.topics, "--candidates", ctx.cands, "--corpus", ctx.corpus, "--model",
            model or ctx.base.model, "--output", out, "--max-length", "48", "--batch-size", "4", "--threads", "1",
            "--device", "cpu", *extra]


def run_lines_check(n: int) -> Callable[[Ctx, str], str | None]:
    def check(ctx: Ctx, _out: str) -> str | None:
        from optical_rerank.trec_io import read_run

        p = ctx.d / "run.txt"
        if not p.is_file():
            return "no run written"
        run = read_run(p)
        got = sum(len(h) for h in run.values())
        return None if got == n else f"{got} run lines, expected {n}"
    return check


def can_mount() -> bool:
    if hasattr(can_mount, "ok"):
        return can_mount.ok  # type: ignore[attr-defined]
    probe = Path(tempfile.mkdtemp(prefix="mnt-probe-"))
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)], capture_output=True).returncode == 0
    if ok:
        subprocess.run(["umount", str(probe)], capture_output=True)
    probe.rmdir()
    can_mount.ok = ok  # type: ignore[attr-defined]
    return ok


def tmpfs(ctx: Ctx, name: str, size_kb: int = 64) -> Path:
    mnt = ctx.d / name
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)], check=True,
                   capture_output=True)
    ctx.notes.setdefault("mounts", []).append(mnt)
    return mnt


def fill(mnt: Path) -> None:
    """Fill a tmpfs to the last byte."""
    for name, chunk in ((".filler", 4096), (".filler2", 1)):
        with contextlib.suppress(OSError):
            fd = os.open(mnt / name, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            finally:
                os.close(fd)


@contextlib.contextmanager
def fsync_fails_after(n_ok: int) -> Iterator[None]:
    real = os.fsync
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] > n_ok:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    os.fsync = fsync
    try:
        yield
    finally:
        os.fsync = real


def disk_full_case(command: str, argv: Callable[[Ctx], list], n_ok: int = 0) -> Callable[[Ctx], Outcome]:
    """Run with an output on a full tmpfs (mountable) or with fsync failing with ENOSPC (patched writer)."""
    def special(ctx: Ctx) -> Outcome:
        if can_mount():
            mnt = tmpfs(ctx, "full", 64)
            (mnt / "run.txt").write_text("previous run\n")
            fill(mnt)
            ctx.notes["out"] = mnt / "run.txt"
        else:
            ctx.notes["out"] = ctx.write("out/run.txt", "previous run\n")
        args = argv(ctx)
        ctx.notes["before"] = snapshot(ctx.d, ctx.base.root)
        if can_mount():
            res = run_inproc(command, args)
        else:
            with fsync_fails_after(n_ok):
                res = run_inproc(command, args)
        ctx.notes["after"] = snapshot(ctx.d, ctx.base.root)
        return res
    return special


def read_only_case(command: str, argv: Callable[[Ctx], list]) -> Callable[[Ctx], Outcome]:
    """Run with the output in a read-only directory holding a previous output."""
    def special(ctx: Ctx) -> Outcome:
        if can_mount():
            mnt = tmpfs(ctx, "ro", 64)
            (mnt / "run.txt").write_text("previous run\n")
            (mnt / "sub").mkdir()
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
            ctx.notes["ro"] = mnt
            args = argv(ctx)
            ctx.notes["before"] = snapshot(ctx.d, ctx.base.root)
            res = run_inproc(command, args)
        elif os.geteuid() != 0:  # not root: the permission bits are enforced
            ro = ctx.d / "ro"
            ro.mkdir()
            (ro / "run.txt").write_text("previous run\n")
            (ro / "sub").mkdir()
            for p in (ro / "sub", ro):
                p.chmod(0o555)
            ctx.notes["ro"] = ro
            args = argv(ctx)
            ctx.notes["before"] = snapshot(ctx.d, ctx.base.root)
            try:
                res = run_inproc(command, args)
            finally:
                for p in (ro, ro / "sub"):
                    p.chmod(0o755)
        else:  # root without mounts: as nobody in a directory it may not write
            ro = ctx.d / "ro"
            ro.mkdir()
            (ro / "run.txt").write_text("previous run\n")
            (ro / "sub").mkdir()
            for p in [ctx.d, *ctx.d.rglob("*"), *ctx.base.root.rglob("*"), ctx.base.root]:
                p.chmod(0o755 if p.is_dir() else 0o644)
            ctx.notes["ro"] = ro
            args = argv(ctx)
            ctx.notes["before"] = snapshot(ctx.d, ctx.base.root)
            res = run_subprocess(command, args, user="65534")
        ctx.notes["after"] = snapshot(ctx.d, ctx.base.root)
        return res
    return special


def kill_and_resume(ctx: Ctx, change_weights: bool) -> Outcome:
    """Rerank 40 queries in a subprocess, kill -9 it after a few finished queries, run the same command again."""
    topics = ctx.write("many.tsv", "".join(f"k{i}\tcapital city of music number {i}\n" for i in range(40)))
    cands = ctx.write("many.trec", "".join(f"k{i} Q0 d{d} {r} {10 - r}.0 bm25\n"
                                           for i in range(40) for r, d in enumerate(range(1, 7), start=1)))
    model = ctx.model_copy()
    ref, out = ctx.d / "ref.txt", ctx.d / "run.txt"

    def args(o: Path) -> list:
        return ["--topics", topics, "--candidates", cands, "--corpus", ctx.corpus, "--model", model, "--output", o,
                "--max-length", "48", "--batch-size", "1", "--threads", "1", "--device", "cpu"]

    if run_subprocess("run", args(ref)).status != 0:
        return Outcome(1, "", "reference run failed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "optical_rerank.run", *map(str, args(out))], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = Path(f"{out}.partial.done")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if done.is_file() and done.read_text().count("\n") >= 4:
            break
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    ctx.notes["killed"] = killed
    if change_weights:  # same path, other weights: resuming would mix two models in one run
        from _tiny import make_tiny_bert

        shutil.rmtree(model)
        make_tiny_bert(model, seed=1)
    ctx.notes["before"] = snapshot(ctx.d, ctx.base.root)
    res = run_subprocess("run", args(out))
    ctx.notes["after"] = snapshot(ctx.d, ctx.base.root)
    if change_weights:
        for p in list(ctx.notes["after"]):  # the partial files are the resume state, kept on purpose
            if ".partial" in p:
                ctx.notes["before"].pop(p, None)
                ctx.notes["after"].pop(p, None)
    else:
        ctx.notes["ref"] = ref
        for p in list(ctx.notes["before"]):  # consumed by the resume, as designed
            if ".partial" in p:
                ctx.notes["before"].pop(p)
    return res


def resume_equals_reference(ctx: Ctx, _out: str) -> str | None:
    if not ctx.notes.get("killed"):
        ctx.notes["detail"] = "ok (the run finished before the kill: nothing was resumed)"
        return None
    out = ctx.d / "run.txt"
    if not out.is_file():
        return "no run after the resume"
    if out.read_bytes() != ctx.notes["ref"].read_bytes():
        return "the resumed run differs from an uninterrupted one"
    ctx.notes["detail"] = "killed after some queries; the resumed run is byte-identical to an uninterrupted one"
    return None


# --------------------------------------------------------------------------- API cases (silent-wrong-result probes)
def api_case(fn: Callable[[Ctx], str | None]) -> Callable[[Ctx], Outcome]:
    def special(ctx: Ctx) -> Outcome:
        try:
            why = fn(ctx)
        except Exception:  # noqa: BLE001
            return Outcome(None, "", traceback.format_exc(), "exception")
        ctx.notes["why"] = why
        ctx.notes["before"] = ctx.notes["after"] = {}  # a probe edits its own copies on purpose
        return Outcome(0, "", "")
    return special


def api_check(ctx: Ctx, _out: str) -> str | None:
    return ctx.notes.get("why")


def weights_changed_same_name(ctx: Ctx) -> str | None:
    from optical_rerank.models import weights_sha256

    m = ctx.model_copy()
    st = (m / "model.safetensors").stat()
    a = weights_sha256(m)
    raw = bytearray((m / "model.safetensors").read_bytes())
    raw[-1] ^= 1  # same size, same mtime: a stat-based key would not see it
    (m / "model.safetensors").write_bytes(bytes(raw))
    os.utime(m / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))
    return None if weights_sha256(m) != a else "weights_sha256 unchanged after the weights changed"


def teacher_key_sees_backbone_weights(ctx: Ctx) -> str | None:
    from optical_rerank.teacher import TeacherConfig

    m = ctx.model_copy()
    st = (m / "model.safetensors").stat()
    cfg = TeacherConfig(backbone=str(m))
    a = cfg.fingerprint()
    raw = bytearray((m / "model.safetensors").read_bytes())
    raw[-1] ^= 1
    (m / "model.safetensors").write_bytes(bytes(raw))
    os.utime(m / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))
    return None if cfg.fingerprint() != a else "the teacher cache key did not change with the backbone's weights"


def student_key_sees_content(ctx: Ctx) -> str | None:
    from optical_rerank.experiment import student_key

    m = ctx.model_copy()
    a = student_key(str(m), [str(ctx.bitext)], {"method": "ot"}, 0, [str(ctx.topics)])
    ctx.bitext.write_text(BITEXT + "mpya\tnew\tsrc\n")
    b = student_key(str(m), [str(ctx.bitext)], {"method": "ot"}, 0, [str(ctx.topics)])
    if a == b:
        return "the student cache key did not change with the bitext content"
    raw = bytearray((m / "model.safetensors").read_bytes())
    raw[-1] ^= 1
    (m / "model.safetensors").write_bytes(bytes(raw))
    c = student_key(str(m), [str(ctx.bitext)], {"method": "ot"}, 0, [str(ctx.topics)])
    return None if c != b else "the student cache key did not change with the teacher's weights"


def bitext_key_sees_options(ctx: Ctx) -> str | None:
    from optical_rerank.experiment import ExperimentConfig
    from optical_rerank.experiment._sets import DataRoot

    calls: list[Path] = []

    def fake_prepare(name, out, **kw):  # records where each preparation would go
        calls.append(Path(out))
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "card.json").write_text("{}")
        (Path(out) / "bitext.swa.tsv").write_text(BITEXT)

    import optical_rerank.experiment._sets as sets

    real = sets.prepare
    sets.prepare = fake_prepare
    try:
        dirs = []
        for extra in ({}, {"sources": "ntrex"}):
            cfg = ExperimentConfig(name="x", data_root=str(ctx.d / "data"), afriqa=None, bitext={"languages": ["swa"], **extra})
            es = DataRoot(cfg)
            es.eval_topic_files = lambda: []  # type: ignore[method-assign]
            dirs.append(Path(es.bitext_files()[0]).parent)
    finally:
        sets.prepare = real
    return None if dirs[0] != dirs[1] and len(calls) == 2 else f"bitext reused across options: {dirs}"


# --------------------------------------------------------------------------- the catalogue
def build_cases() -> list[Case]:
    C: list[Case] = []

    def add(*args, **kw) -> None:
        C.append(Case(*args, **kw))

    out = lambda c: c.d / "run.txt"  # noqa: E731

    # ---------------- run: outputs
    add("run-rerank-ok", "run", lambda c: rerank_args(c, out(c)), "ok", check=run_lines_check(18))
    add("run-bm25-ok", "run", lambda c: ["--topics", c.topics, "--index", c.base.index, "--output", out(c)], "ok",
        check=lambda c, o: None if out(c).is_file() and out(c).read_text().count("\n") >= 3 else "no run")
    add("run-output-is-candidates", "run", lambda c: rerank_args(c, c.cands), fragment="same file")
    add("run-output-is-topics", "run", lambda c: rerank_args(c, c.topics), fragment="same file")
    add("run-output-is-corpus", "run", lambda c: rerank_args(c, c.corpus), fragment="same file")
    add("run-output-is-qrels", "run", lambda c: rerank_args(c, c.qrels, None, "--qrels", c.qrels), fragment="same file")
    add("run-output-symlink-to-qrels", "run", lambda c: rerank_args(c, c.d / "link.txt", None, "--qrels", c.qrels),
        setup=lambda c: (c.d / "link.txt").symlink_to(c.qrels), fragment="same file")
    add("run-output-hardlink-to-cands", "run", lambda c: rerank_args(c, c.d / "hard.txt"),
        setup=lambda c: os.link(c.cands, c.d / "hard.txt"), fragment="same file")
    add("run-output-sidecar-is-topics", "run", lambda c: ["--topics", c.d / "x.first_stage.txt", "--index",
                                                           c.base.index, "--model", c.base.model, "--max-length", "48",
                                                           "--output", c.d / "x.txt"],
        setup=lambda c: (c.d / "x.first_stage.txt").write_text(TOPICS), fragment="same file")
    add("run-output-is-model-weights", "run", lambda c: rerank_args(c, c.base.model / "model.safetensors"),
        fragment="inside --model")
    add("run-output-is-directory", "run", lambda c: rerank_args(c, c.d), fragment="is a directory")
    add("run-output-under-a-file", "run", lambda c: rerank_args(c, c.topics / "run.txt"), fragment="is a file")
    add("run-index-is-users-dir", "run", lambda c: ["--topics", c.topics, "--index", c.d / "notes", "--corpus", c.corpus,
                                                     "--output", out(c)],
        setup=lambda c: c.write("notes/thesis.tex", "years of work\n"), fragment="refusing")
    add("run-index-is-a-file", "run", lambda c: ["--topics", c.topics, "--index", c.qrels, "--corpus", c.corpus,
                                                  "--output", out(c)])
    add("run-read-only-output-dir", "run", None, mode="special", fragment="",
        special=read_only_case("run", lambda c: rerank_args(c, c.notes["ro"] / "run.txt")))
    add("run-read-only-output-subdir", "run", None, mode="special",
        special=read_only_case("run", lambda c: rerank_args(c, c.notes["ro"] / "sub" / "run.txt")))
    add("run-disk-full-bm25", "run", None, mode="special", fragment="no space left",
        special=disk_full_case("run", lambda c: ["--topics", c.topics, "--candidates", c.cands, "--output", c.notes["out"]]),
        allow_new=("out/.run.txt*",))
    add("run-disk-full-rerank", "run", None, mode="special", fragment="no space left",
        special=disk_full_case("run", lambda c: rerank_args(c, c.notes["out"]), n_ok=3),
        allow_new=("out/run.txt.partial*", "full/run.txt.partial*"))
    # ---------------- run: numbers and words
    for name, extra, frag in [("k1-nan", ["--k1", "nan"], "finite"), ("k1-inf", ["--k1", "inf"], "finite"),
                              ("k1-negative", ["--k1", "-1"], "k1"), ("b-above-1", ["--b", "2"], "--b"),
                              ("b-nan", ["--b", "nan"], "finite"), ("k1-word", ["--k1", "abc"], "k1"),
                              ("depth-0", ["--depth", "0"], "depth"), ("depth-negative", ["--depth", "-5"], "depth"),
                              ("depth-word", ["--depth", "ten"], "depth"),
                              ("max-queries-0", ["--max-queries", "0"], "max-queries"),
                              ("max-queries-negative", ["--max-queries", "-1"], "max-queries"),
                              ("tag-with-space", ["--tag", "my tag"], "tag"),
                              ("batch-size-0", ["--batch-size", "0"], "batch"),
                              ("max-length-2", ["--max-length", "2"], "max"),
                              ("unknown-flag", ["--frobnicate"], "unrecognized")]:
        add(f"run-{name}", "run", lambda c, extra=extra: rerank_args(c, out(c)) + extra, fragment=frag)
    add("run-unknown-language-on-index", "run", lambda c: ["--topics", c.topics, "--index", c.base.index,
                                                            "--language", "xx", "--output", out(c)], fragment="xx")
    # ---------------- run: inputs
    bad_inputs = [
        ("topics-empty", "topics.tsv", b"", "empty"), ("topics-binary", "topics.tsv", b"\x00\x01\x02\xff\xfe", ""),
        ("topics-utf16", "topics.tsv", TOPICS.encode("utf-16"), "utf"), ("topics-latin1", "topics.tsv",
                                                                            "q1\tcaf\xe9 city\n".encode("latin-1"), "utf-8"),
        ("topics-qid-with-space", "topics.tsv", b"q 1\tcapital city\n", "whitespace"),
        ("topics-duplicate-qid", "topics.tsv", b"q1\ta\nq1\tb\n", "q1"),
        ("topics-no-tab", "topics.tsv", b"q1 capital city\n", ""),
        ("topics-empty-query", "topics.tsv", b"q1\t   \n", "empty"),
        ("topics-nbsp-qid", "topics.tsv", "q\u00a01\tcapital\n".encode(), "whitespace"),
        ("cands-empty", "cands.trec", b"", "empty"), ("cands-5-columns", "cands.trec", b"q1 Q0 d1 1 9.0\n", "column"),
        ("cands-score-nan", "cands.trec", b"q1 Q0 d1 1 nan bm25\n", "score"),
        ("cands-score-inf", "cands.trec", b"q1 Q0 d1 1 1e999 bm25\n", "score"),
        ("cands-rank-underscore", "cands.trec", b"q1 Q0 d1 1_0 9.0 bm25\n", "rank"),
        ("cands-7-columns-qid-space", "cands.trec", b"q 1 Q0 d1 1 9.0 bm25\n", ""),
        ("cands-duplicate-doc", "cands.trec", b"q1 Q0 d1 1 9.0 bm25\nq1 Q0 d1 2 8.0 bm25\n", "d1"),
        ("cands-unknown-docid", "cands.trec", b"q1 Q0 zz9 1 9.0 bm25\n", "zz9"),
        ("corpus-invalid-json", "corpus.jsonl", b'{"id": "d1", "contents": }\n', "json"),
        ("corpus-no-contents", "corpus.jsonl", b'{"id": "d1"}\n', "contents"),
        ("corpus-duplicate-id", "corpus.jsonl", b'{"id": "d1", "contents": "a"}\n{"id": "d1", "contents": "b"}\n', "d1"),
        ("corpus-empty", "corpus.jsonl", b"", ""),
        ("corpus-id-not-string", "corpus.jsonl", b'{"id": 5, "contents": "a"}\n', "id"),
    ]
    for name, fname, content, frag in bad_inputs:
        add(f"run-{name}", "run", lambda c: rerank_args(c, out(c)),
            setup=lambda c, fname=fname, content=content: c.write(fname, content), fragment=frag)
    for name, content, frag in [("qrels-grade-underscore", b"q1 0 d1 1_0\n", "grade"),
                                ("qrels-grade-arabic-indic", "q1 0 d1 \u0661\n".encode(), "grade"),
                                ("qrels-grade-float", b"q1 0 d1 1.0\n", "grade"), ("qrels-empty", b"", "empty"),
                                ("qrels-3-columns", b"q1 d1 1\n", "column"),
                                ("qrels-conflicting-grades", b"q1 0 d1 1\nq1 0 d1 2\n", "d1")]:
        add(f"run-{name}", "run", lambda c: rerank_args(c, out(c), None, "--qrels", c.qrels),
            setup=lambda c, content=content: c.write("qrels.txt", content), fragment=frag)
    add("run-topics-missing", "run", lambda c: rerank_args(c, out(c), None, "--topics", c.d / "nope.tsv"), fragment="nope")
    add("run-candidates-missing", "run", lambda c: rerank_args(c, out(c), None, "--candidates", c.d / "nope.trec"),
        fragment="nope")
    add("run-topics-is-directory", "run", lambda c: rerank_args(c, out(c), None, "--topics", c.d / "tdir"),
        setup=lambda c: (c.d / "tdir").mkdir())
    add("run-crlf-bom-topics-ok", "run", lambda c: rerank_args(c, out(c)), "ok",
        setup=lambda c: c.write("topics.tsv", ("\ufeff" + TOPICS.replace("\n", "\r\n")).encode()),
        check=run_lines_check(18))
    # ---------------- run: models
    def damaged(fn: Callable[[Path], None]) -> Callable[[Ctx], None]:
        def setup(c: Ctx) -> None:
            fn(c.model_copy("bad"))
        return setup

    def rm(*names: str) -> Callable[[Path], None]:
        return lambda m: [os.remove(m / n) for n in names if (m / n).exists()]

    def put(name: str, content: bytes | str) -> Callable[[Path], None]:
        return lambda m: (m / name).write_bytes(content if isinstance(content, bytes) else content.encode())

    def truncate(m: Path) -> None:
        raw = (m / "model.safetensors").read_bytes()
        (m / "model.safetensors").write_bytes(raw[: len(raw) // 2])

    def bad_header(m: Path) -> None:
        raw = bytearray((m / "model.safetensors").read_bytes())
        raw[8:12] = b'{"x"'
        (m / "model.safetensors").write_bytes(bytes(raw))

    def other_shape(m: Path) -> None:
        cfg = json.loads((m / "config.json").read_text())
        cfg["hidden_size"], cfg["intermediate_size"] = 64, 128
        (m / "config.json").write_text(json.dumps(cfg))

    def pickle_only(m: Path) -> None:
        os.rename(m / "model.safetensors", m / "pytorch_model.bin")

    models = [("model-missing-dir", None, "does not exist"),
              ("model-no-tokenizer-files", rm("tokenizer.json", "vocab.txt"), "tokenizer"),
              ("model-empty-vocabulary", rm("tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                            "special_tokens_map.json"), "tokenizer"),
              ("model-tokenizer-json-empty-object", put("tokenizer.json", "{}"), "tokenizer"),
              ("model-tokenizer-json-garbage", put("tokenizer.json", "garbage"), "tokenizer"),
              ("model-vocab-only-specials", lambda m: (rm("tokenizer.json")(m), put("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")(m)), "tokenizer"),
              ("model-weights-truncated", truncate, "safetensors"), ("model-weights-garbage",
                                                                    put("model.safetensors", b"\x00" * 64), "safetensors"),
              ("model-weights-empty", put("model.safetensors", b""), "safetensors"),
              ("model-weights-bad-header", bad_header, "safetensors"), ("model-config-other-shape", other_shape, "shape"),
              ("model-config-invalid-json", put("config.json", "{"), "config"),
              ("model-config-missing", rm("config.json"), "config.json"),
              ("model-pickle-only", pickle_only, "pickle"),
              ("model-card-bad-template", put("teacher_config.json", '{"query_template": 5}'), "query_template"),
              ("model-card-invalid-json", put("teacher_config.json", "{"), "model card"),
              ("model-card-utf16", put("teacher_config.json", '{"max_length": 64}'.encode("utf-16")), "utf-16")]
    for name, fn, frag in models:
        add(f"run-{name}", "run", lambda c: rerank_args(c, out(c), c.d / "bad"),
            setup=damaged(fn) if fn else None, fragment=frag)
    add("run-model-unknown-name", "run", lambda c: rerank_args(c, out(c), "no-such-model"), fragment="unknown model")
    add("run-kill-9-then-resume", "run", None, "ok", mode="special",
        special=lambda c: kill_and_resume(c, change_weights=False), check=resume_equals_reference)
    add("run-resume-after-weights-changed", "run", None, mode="special", fragment="--restart",
        special=lambda c: kill_and_resume(c, change_weights=True))

    # ---------------- index
    idx_args = lambda c, *extra: ["--input", c.corpus, "--index", c.d / "newidx", *extra]  # noqa: E731
    add("index-ok", "index", idx_args, "ok",
        check=lambda c, o: None if (c.d / "newidx" / "optical_rerank_index.json").is_file() else "no index")
    add("index-users-dir", "index", lambda c: ["--input", c.corpus, "--index", c.d / "notes"],
        setup=lambda c: c.write("notes/thesis.tex", "work"), fragment="refusing")
    add("index-users-dir-overwrite", "index", lambda c: ["--input", c.corpus, "--index", c.d / "notes", "--overwrite"],
        setup=lambda c: c.write("notes/thesis.tex", "work"), fragment="refusing")
    add("index-is-a-file", "index", lambda c: ["--input", c.corpus, "--index", c.qrels, "--overwrite"], fragment="is a file")
    add("index-is-the-input", "index", lambda c: ["--input", c.corpus, "--index", c.corpus, "--overwrite"])
    add("index-holds-the-input", "index", lambda c: ["--input", c.d / "docs" / "c.jsonl", "--index", c.d / "docs",
                                                     "--overwrite"],
        setup=lambda c: c.write("docs/c.jsonl", (c.d / "corpus.jsonl").read_text()), fragment="holds")
    add("index-inside-input-dir", "index", lambda c: ["--input", c.d / "docs", "--index", c.d / "docs" / "idx"],
        setup=lambda c: c.write("docs/c.jsonl", (c.d / "corpus.jsonl").read_text()), fragment="inside")
    add("index-input-missing", "index", lambda c: ["--input", c.d / "nope.jsonl", "--index", c.d / "newidx"],
        fragment="nope")
    add("index-input-empty", "index", idx_args, setup=lambda c: c.write("corpus.jsonl", ""), fragment="")
    add("index-input-invalid-json", "index", idx_args, setup=lambda c: c.write("corpus.jsonl", "{oops\n"), fragment="")
    add("index-input-utf16", "index", idx_args,
        setup=lambda c: c.write("corpus.jsonl", '{"id": "d1", "contents": "a"}\n'.encode("utf-16")), fragment="")
    add("index-unknown-language", "index", lambda c: idx_args(c, "--language", "xx"), fragment="xx")
    add("index-threads-0", "index", lambda c: idx_args(c, "--threads", "0"), fragment="threads")
    add("index-other-corpus-no-overwrite", "index", lambda c: ["--input", c.corpus, "--index", c.d / "idx2"],
        setup=lambda c: shutil.copytree(c.base.index, c.d / "idx2"), fragment="--overwrite")
    add("index-read-only-parent", "index", None, mode="special",
        special=read_only_case("index", lambda c: ["--input", c.corpus, "--index", c.notes["ro"] / "newidx"]))

    # ---------------- evaluate
    add("evaluate-ok", "evaluate", lambda c: [c.qrels, c.cands, "-m", "P.1"], "ok",
        check=lambda c, o: None if "P_1" in o and "0.3333" in o else f"unexpected output {o[:80]!r}")
    add("evaluate-output-is-qrels", "evaluate", lambda c: [c.qrels, c.cands, "--output", c.qrels], fragment="same file")
    add("evaluate-output-is-run", "evaluate", lambda c: [c.qrels, c.cands, "--output", c.cands], fragment="same file")
    add("evaluate-output-is-dir", "evaluate", lambda c: [c.qrels, c.cands, "--output", c.d], fragment="directory")
    add("evaluate-output-under-file", "evaluate", lambda c: [c.qrels, c.cands, "--output", c.topics / "x"],
        fragment="is a file")
    for name, m in [("ndcg-cut-word", "ndcg_cut.x"), ("p-zero", "P.0"), ("p-exponent", "P.1e3"), ("bogus", "bogus"),
                    ("empty", "")]:
        add(f"evaluate-measure-{name}", "evaluate", lambda c, m=m: [c.qrels, c.cands, "-m", m], fragment="")
    add("evaluate-run-empty", "evaluate", lambda c: [c.qrels, c.cands], setup=lambda c: c.write("cands.trec", ""),
        fragment="empty")
    add("evaluate-qrels-empty", "evaluate", lambda c: [c.qrels, c.cands], setup=lambda c: c.write("qrels.txt", ""),
        fragment="empty")
    add("evaluate-run-score-nan", "evaluate", lambda c: [c.qrels, c.cands],
        setup=lambda c: c.write("cands.trec", "q1 Q0 d1 1 nan x\n"), fragment="score")
    add("evaluate-qrels-grade-underscore", "evaluate", lambda c: [c.qrels, c.cands],
        setup=lambda c: c.write("qrels.txt", "q1 0 d1 1_0\n"), fragment="grade")
    add("evaluate-qrels-binary", "evaluate", lambda c: [c.qrels, c.cands],
        setup=lambda c: c.write("qrels.txt", b"\x00\xff\x00"), fragment="")
    add("evaluate-run-missing", "evaluate", lambda c: [c.qrels, c.d / "nope.trec"], fragment="nope")
    add("evaluate-relevance-level-word", "evaluate", lambda c: [c.qrels, c.cands, "-l", "x"], fragment="")
    add("evaluate-read-only-output", "evaluate", None, mode="special",
        special=read_only_case("evaluate", lambda c: [c.qrels, c.cands, "--output", c.notes["ro"] / "run.txt"]))

    # ---------------- merge
    def shards(c: Ctx) -> None:
        from optical_rerank.run import main as run_main
        from optical_rerank.cli import run_cli

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            for i in (0, 1):
                run_cli(run_main, [str(a) for a in rerank_args(c, c.d / f"s{i}.txt", None, "--shard", f"{i}/2")])

    add("merge-ok", "merge", lambda c: [out(c), c.d / "s0.txt", c.d / "s1.txt"], "ok", setup=shards,
        check=run_lines_check(18))
    add("merge-output-is-a-shard", "merge", lambda c: [c.d / "s0.txt", c.d / "s0.txt", c.d / "s1.txt"], setup=shards,
        fragment="input")
    add("merge-missing-shard", "merge", lambda c: [out(c), c.d / "s0.txt"], setup=shards, fragment="")
    add("merge-shard-not-ours", "merge", lambda c: [out(c), c.cands, c.qrels], fragment="")
    add("merge-shard-file-missing", "merge", lambda c: [out(c), c.d / "nope.txt"], fragment="nope")
    add("merge-output-is-dir", "merge", lambda c: [c.d, c.d / "s0.txt", c.d / "s1.txt"], setup=shards,
        fragment="directory")

    # ---------------- data, models, bench
    add("data-list-ok", "data", lambda c: ["list"], "ok", check=lambda c, o: None if o.strip() else "empty list")
    add("data-prepare-unknown", "data", lambda c: ["prepare", "no-such-set", "--out", c.d / "o"], fragment="")
    add("data-prepare-into-users-dir", "data", lambda c: ["prepare", "dl19", "--out", c.d / "notes"],
        setup=lambda c: c.write("notes/thesis.tex", "work"), fragment="")
    add("data-prepare-out-is-file", "data", lambda c: ["prepare", "dl19", "--out", c.topics], fragment="")
    add("data-prepare-bitext-unknown-lang", "data", lambda c: ["prepare", "bitext", "--lang", "qqq", "--out", c.d / "b"],
        fragment="qqq")
    add("models-list-ok", "models", lambda c: ["list"], "ok", check=lambda c, o: None if "e5" in o else "no e5")
    add("models-path-unknown", "models", lambda c: ["path", "no-such-model"], fragment="unknown model")
    add("models-path-broken-dir", "models", lambda c: ["path", c.d / "bad"], setup=damaged(truncate),
        fragment="safetensors")
    add("models-convert-unknown", "models", lambda c: ["convert", "nope"], fragment="")
    add("models-convert-into-users-dir", "models", lambda c: ["convert", "e5-small-multilingual", "--out", c.d / "notes"],
        setup=lambda c: c.write("notes/thesis.tex", "work"), fragment="not an output")
    add("models-convert-out-is-file", "models", lambda c: ["convert", "e5-small-multilingual", "--out", c.topics],
        fragment="is a file")
    add("models-convert-source-missing", "models", lambda c: ["convert", "e5-small-multilingual", "--out", c.d / "e5",
                                                               "--source", c.d / "nope.bin"], fragment="nope.bin")
    add("bench-ot-batch-0", "bench", lambda c: ["ot", "--batch", "0"], fragment="batch")
    add("bench-ot-reg-nan", "bench", lambda c: ["ot", "--reg", "nan"], fragment="reg")
    add("bench-ot-out-is-dir", "bench", lambda c: ["ot", "--out", c.d, "--repeats", "1", "--batch", "2"],
        fragment="directory")
    add("bench-rerank-bad-model", "bench", lambda c: ["rerank", "--model", c.d / "bad", "--data", c.d / "nodata"],
        setup=damaged(truncate), fragment="")

    # ---------------- teacher
    def users_dir(c: Ctx) -> None:
        c.write("notes/thesis.tex", "years of work")
        c.write("notes/config.json", "{}")

    train = lambda c, o, *extra: ["train", "--out", o, "--backbone", c.base.model, "--data", "triples",  # noqa: E731
                                  "--triples", c.d / "triples.tsv", "--max-steps", "1", "--device", "cpu", *extra]
    add("teacher-train-out-users-dir", "teacher", lambda c: train(c, c.d / "notes"), setup=users_dir,
        fragment="not an output")
    add("teacher-train-out-is-file", "teacher", lambda c: train(c, c.topics), fragment="is a file")
    add("teacher-train-out-is-backbone", "teacher", lambda c: train(c, c.base.model), fragment="")
    add("teacher-train-out-holds-data", "teacher", lambda c: train(c, c.d), fragment="holds")
    add("teacher-train-lr-nan", "teacher", lambda c: train(c, c.d / "t", "--learning-rate", "nan"), fragment="learning_rate")
    add("teacher-train-epochs-negative", "teacher", lambda c: train(c, c.d / "t", "--epochs", "-1"), fragment="epochs")
    add("teacher-train-max-length-word", "teacher", lambda c: train(c, c.d / "t", "--max-length", "long"), fragment="")
    add("teacher-evaluate-missing-model", "teacher", lambda c: ["evaluate", c.d / "nope", "--sets", "dl19", "--output", c.d / "e.json"], fragment="nope")
    recipe_argv = lambda c, o: ["recipe", c.d / "recipe.yaml", "--bundle", c.d / "bundle", "--out", o,  # noqa: E731
                                "--runs-dir", c.d / "runs", "--summary", c.d / "summary.json"]
    add("teacher-recipe-out-users-dir", "teacher", lambda c: recipe_argv(c, c.d / "notes"),
        setup=lambda c: (c.write("recipe.yaml", RECIPE), users_dir(c)), fragment="not an output")
    add("teacher-recipe-summary-is-dir", "teacher", lambda c: recipe_argv(c, c.d / "o")[:-1] + [c.d],
        setup=lambda c: c.write("recipe.yaml", RECIPE), fragment="is a directory")
    recipes = [("missing", None, "no such"), ("invalid-yaml", "name: r\nvariants: [a,\n", "invalid yaml"),
               ("duplicate-key", RECIPE + "name: again\n", "twice"), ("utf16", RECIPE.encode("utf-16"), "utf-16"),
               ("binary", b"\x00\x01\x02", "binary"), ("variants-list", "name: r\nvariants: [a, b]\n", "variants"),
               ("base-list", "name: r\nbase: [1]\nvariants:\n  a: {}\n", "base"),
               ("lr-nan", RECIPE.replace("0.0001", ".nan"), "lr must be"), ("unknown-key", RECIPE + "steps: 3\n", "unknown"),
               ("no-name", RECIPE.replace("name: r\n", ""), "name"), ("top-level-list", "- a\n", "mapping"),
               ("variant-field-typo", RECIPE.replace("lr:", "lrr:"), "lrr"),
               ("variant-epochs-word", RECIPE + "  b:\n    epochs: ten\n", "epochs"),
               ("variant-lora-r-zero", RECIPE + "  b:\n    lora_r: 0\n", "lora_r"),
               ("valid-but-no-bundle", RECIPE, "bundle")]
    for name, text, frag in recipes:
        add(f"teacher-recipe-{name}", "teacher",
            lambda c: ["recipe", c.d / "recipe.yaml", "--bundle", c.d / "bundle", "--out", c.d / "o",
                       "--runs-dir", c.d / "runs", "--summary", c.d / "summary.json"],
            setup=(lambda c, text=text: c.write("recipe.yaml", text)) if text is not None else None, fragment=frag)

    # ---------------- distill
    dist = lambda c, *extra: ["--teacher", c.base.model, "--bitext", c.bitext, "--output", c.d / "student",  # noqa: E731
                              "--steps", "1", "--device", "cpu", *extra]
    add("distill-output-users-dir", "distill", lambda c: ["--teacher", c.base.model, "--bitext", c.bitext, "--output",
                                                           c.d / "notes", "--steps", "1", "--device", "cpu"],
        setup=users_dir, fragment="not an output")
    add("distill-output-is-teacher", "distill", lambda c: ["--teacher", c.d / "t", "--bitext", c.bitext, "--output",
                                                            c.d / "t", "--steps", "1", "--device", "cpu"],
        setup=lambda c: c.model_copy("t"), fragment="")
    add("distill-output-is-file", "distill", lambda c: ["--teacher", c.base.model, "--bitext", c.bitext, "--output",
                                                         c.topics, "--steps", "1", "--device", "cpu"], fragment="")
    for name, content, frag in [("bitext-empty", b"", ""), ("bitext-binary", b"\x00\x01\xff", ""),
                                ("bitext-one-column", b"only one column\n", ""),
                                ("bitext-utf16", BITEXT.encode("utf-16"), "")]:
        add(f"distill-{name}", "distill", dist, setup=lambda c, content=content: c.write("bitext.swa.tsv", content),
            fragment=frag)
    for name, extra, frag in [("lr-nan", ["--lr", "nan"], "lr"), ("steps-negative", ["--steps", "-1"], "steps"),
                              ("reg-zero", ["--reg", "0"], "reg"), ("layers-word", ["--layers", "top"], "layer"),
                              ("teacher-missing", ["--teacher", "/nonexistent/teacher"], "teacher")]:
        add(f"distill-{name}", "distill", lambda c, extra=extra: dist(c, *extra), fragment=frag)
    configs = [("invalid-json", '{"method": }', "invalid json"), ("duplicate-key", '{"lr": 1e-4, "lr": 2e-4}', "twice"),
               ("utf16", '{"lr": 0.0001}'.encode("utf-16"), "utf-16"), ("lr-word", '{"lr": "abc"}', "lr"),
               ("nan", '{"lr": NaN}', "nan"), ("list", "[1, 2]", ""), ("unknown-key", '{"lrr": 1}', "lrr"),
               ("missing", None, "no such")]
    for name, text, frag in configs:
        add(f"distill-config-{name}", "distill", lambda c: dist(c, "--config", c.d / "cfg.json"),
            setup=(lambda c, text=text: c.write("cfg.json", text)) if text is not None else None, fragment=frag)

    # ---------------- experiment
    exp = [("no-name", "depth: 5\n", "name"), ("invalid-json", '{"name": "x",\n "depth": }', "invalid json"),
           ("invalid-yaml", "name: x\ndepth: [1,\n", "invalid yaml"), ("measures-int", "name: x\nmeasures: 5\n", "measures"),
           ("students-list", "name: x\nstudents: [optical, kd]\n", "students"),
           ("depth-word", "name: x\ndepth: ten\n", "depth"), ("depth-negative", "name: x\ndepth: -3\n", "depth"),
           ("max-queries-negative", "name: x\nmax_queries_per_language: -1\n", "max_queries_per_language"),
           ("k1-nan", "name: x\nbm25:\n  k1: .nan\n  b: 0.4\n", "k1"), ("b-above-1", "name: x\nbm25: {k1: 0.9, b: 3}\n", "b"),
           ("seed-word", "name: x\nseed: abc\n", "seed"), ("teacher-int", "name: x\nteacher: 5\n", "teacher"),
           ("duplicate-key", "name: x\ndepth: 5\ndepth: 6\n", "twice"),
           ("duplicate-nested-key", "name: x\nbm25:\n  k1: 1\n  k1: 2\n", "twice"),
           ("duplicate-key-json", '{"name": "x", "depth": 5, "depth": 6}', "twice"),
           ("nan-json", '{"name": "x", "depth": NaN}', "nan"),
           ("student-lr-negative", "name: x\nstudents:\n  optical:\n    method: ot\n    lr: -1\n", "lr"),
           ("student-method-unknown", "name: x\nstudents:\n  optical:\n    method: xx\n", "method"),
           ("student-not-mapping", "name: x\nstudents:\n  optical: [1]\n", "students.optical"),
           ("teacher-field-bad", "name: x\nteacher:\n  epochs: -1\n", "epochs"),
           ("teacher-unknown-shipped", "name: x\nteacher:\n  shipped: nope\n", "shipped"),
           ("top-level-list", "- a\n- b\n", "mapping"), ("empty-file", "", "mapping"),
           ("unknown-key", "name: x\ndeptth: 3\n", "deptth"), ("languages-string", "name: x\nafriqa:\n  languages: hau\n",
                                                               "languages"),
           ("systems-unknown", "name: x\nsystems: [bm25-native, nope]\n", "nope"),
           ("utf16", EXPERIMENT.encode("utf-16"), "utf-16"), ("binary", b"\x00\x01\x02name", "binary"),
           ("latin1", "name: caf\xe9\n".encode("latin-1"), "utf-8"), ("missing", None, "no such"),
           ("rerank-max-length-word", "name: x\nrerank:\n  max_length: long\n", "max_length"),
           ("name-empty", "name: ''\n", "name"), ("measure-bad-name", "name: x\nmeasures: [ndcg_cut.x]\n", "ndcg_cut.x"),
           ("bitext-sources-int", "name: x\nbitext:\n  sources: 5\n", "bitext.sources"),
           ("teacher-seed-word", "name: x\nteacher:\n  seed: abc\n", "seed"),
           ("teacher-lr-inf", "name: x\nteacher:\n  learning_rate: .inf\n", "learning_rate"),
           ("student-steps-word", "name: x\nstudents:\n  optical:\n    method: ot\n    steps: ten\n", "steps"),
           ("student-context-k-zero", "name: x\nstudents:\n  optical:\n    method: ot\n    context_k: 0\n", "context_k"),
           ("rerank-batch-zero", "name: x\nrerank:\n  batch_size: 0\n", "batch_size"),
           ("dl19-budget-zero", "name: x\ndl19:\n  max_queries: 0\n", "max_queries"),
           ("candidates-unknown", "name: x\ncandidates: both\n", "candidates"),
           ("tab-indented", "name: x\nbm25:\n\tk1: 1\n", "invalid yaml")]
    for name, text, frag in exp:
        suffix = ".json" if "json" in name else ".yaml"
        add(f"experiment-{name}", "experiment", lambda c, suffix=suffix: [c.d / f"exp{suffix}"],
            setup=(lambda c, text=text, suffix=suffix: c.write(f"exp{suffix}", text)) if text is not None else None,
            fragment=frag)
    add("experiment-cli-depth-negative", "experiment", lambda c: [c.d / "exp.yaml", "--depth", "-1"],
        setup=lambda c: c.write("exp.yaml", EXPERIMENT), fragment="depth")
    add("experiment-cli-budget-zero", "experiment", lambda c: [c.d / "exp.yaml", "--max-queries-per-language", "0"],
        setup=lambda c: c.write("exp.yaml", EXPERIMENT), fragment="max_queries")

    # ---------------- caches and resume identities keyed by content (silent-wrong-result probes)
    add("api-weights-hash-same-size-same-mtime", "models", None, "ok", mode="special",
        special=api_case(weights_changed_same_name), check=api_check)
    add("api-teacher-key-backbone-weights", "teacher", None, "ok", mode="special",
        special=api_case(teacher_key_sees_backbone_weights), check=api_check)
    add("api-student-key-content", "experiment", None, "ok", mode="special",
        special=api_case(student_key_sees_content), check=api_check)
    add("api-bitext-key-options", "experiment", None, "ok", mode="special",
        special=api_case(bitext_key_sees_options), check=api_check)
    return C


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated case names (prefixes) to run")
    p.add_argument("--out", default=str(ROOT / "results" / "reliability" / "catalogue.txt"))
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    args = p.parse_args(argv)
    cases = build_cases()
    if args.only:
        wanted = [w for w in args.only.split(",") if w]
        cases = [c for c in cases if any(c.name.startswith(w) for w in wanted)]
    if args.list:
        print("\n".join(f"{c.name}\t{c.command}\t{c.expect}" for c in cases))
        return 0
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="adversarial-") as tmp:
        base = Base(Path(tmp) / "base")
        base.root.mkdir()
        work = Path(tmp) / "cases"
        work.mkdir()
        for case in cases:
            t0 = time.time()
            cat, detail = run_case(case, base, work)
            detail = detail.replace(tmp, "<tmp>")
            rows.append((case, cat, detail, time.time() - t0))
            print(f"{cat:20s} {case.name:45s} {time.time() - t0:5.1f}s  {detail}", file=sys.stderr, flush=True)
    counts = {k: sum(1 for r in rows if r[1] == k) for k in CATEGORIES}
    commands = sorted({r[0].command for r in rows})
    lines = [f"# adversarial catalogue: {len(rows)} cases over {len(commands)} commands ({', '.join(commands)})",
             f"# command: python scripts/adversarial.py{' --only ' + args.only if args.only else ''}",
             f"# wall time {time.time() - started:.0f} s; full disk and read-only via "
             f"{'tmpfs mounts' if can_mount() else 'a patched fsync and permission bits'}",
             "# " + ", ".join(f"{k}: {v}" for k, v in counts.items()), ""]
    lines += [f"{cat:20s} {case.command:10s} {case.expect:5s} {case.name:45s} {detail}" for case, cat, detail, _ in rows]
    text = "\n".join(lines) + "\n"
    if not args.only:
        from optical_rerank.files import write_text_atomic

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, text)
    print("\n".join(lines[:4]))
    return 0 if counts["handled"] == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
