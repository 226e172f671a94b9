"""Scoring with trec_eval semantics (pytrec_eval), per-query values and significance tests.

``python -m optical_rerank.evaluate QRELS RUN [RUN ...] -m map -m ndcg_cut.10 -m recip_rank -m recall.100``

* Measures use trec_eval names (``map``, ``ndcg_cut.10``, ``recip_rank``, ``recall.100``,
  ``P.10``, ...) and are computed by pytrec_eval, i.e. by trec_eval's own C code; output keys
  are trec_eval's (``ndcg_cut_10``). A test checks equality with the trec_eval bundled in
  Pyserini's fatjar on the same files.
* ``mrr@K`` (e.g. ``mrr@10``) is MS MARCO's MRR@K: trec_eval's ``recip_rank`` on each ranking
  cut at K (ranking in trec_eval's order: score descending, ties by docid descending).
* ``-c`` averages over every query in the qrels (missing queries score 0), as trec_eval ``-c``;
  without it, over the queries in both qrels and run. ``-l`` is trec_eval's relevance level.
* In-memory runs are rounded to 6 decimals first, as they would be written, so a run scores
  the same before and after :func:`~optical_rerank.trec_io.write_run`.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytrec_eval

from .cli import run_cli
from .errors import ConfigError
from .files import write_text_atomic
from .guard import check_output_path, refuse_overwriting_inputs
from .trec_io import Qrels, Run, read_qrels, read_run

DEFAULT_MEASURES = ("map", "ndcg_cut.10", "recip_rank", "mrr@10", "recall.100")
_SUM_MEASURES = {"num_q", "num_ret", "num_rel", "num_rel_ret", "num_nonrel_judged_ret"}


def output_name(measure: str) -> str:
    """trec_eval's output name of a measure (``ndcg_cut.10`` → ``ndcg_cut_10``)."""
    return measure if measure.startswith("mrr@") else measure.replace(".", "_")


@dataclass(frozen=True)
class EvalResult:
    """Per-query and aggregate values of one run.

    ``per_query[qid][name]`` and ``aggregate[name]`` use trec_eval output names.
    """

    measures: tuple[str, ...]
    per_query: dict[str, dict[str, float]]
    aggregate: dict[str, float]
    num_queries: int
    complete: bool = False
    meta: dict = field(default_factory=dict)


def _trec_order(hits, digits: int | None) -> list:
    """trec_eval's ranking order: score descending, ties by docid descending."""
    by_docid_desc = sorted(hits, key=lambda h: h.docid, reverse=True)
    if digits is None:
        return sorted(by_docid_desc, key=lambda h: -float(h.score))  # stable sort keeps docid order
    return sorted(by_docid_desc, key=lambda h: -round(float(h.score), digits))


def _to_pytrec_run(run: Run, cut: int | None = None, digits: int | None = None) -> dict[str, dict[str, float]]:
    out = {}
    for qid, hits in run.items():
        ordered = _trec_order(hits, digits)
        if cut is not None:
            ordered = ordered[:cut]
        out[qid] = {h.docid: (round(float(h.score), digits) if digits is not None else float(h.score))
                    for h in ordered}
    return out


#: trec_eval measures whose parameter is a list of integer cutoffs (``P.5,10``); each must be >= 1.
_CUTOFF_MEASURES = {"P", "recall", "ndcg_cut", "map_cut", "success", "relative_P", "relstring", "set_relative_P"}
#: ... a list of numbers in [0, 1] (``iprec_at_recall.0.1,0.5``).
_FRACTION_MEASURES = {"iprec_at_recall"}
#: ... a list of positive numbers (``Rprec_mult.0.5,2``) or one (``set_F.0.5``: beta).
_POSITIVE_MEASURES = {"Rprec_mult", "set_F"}
_CUTOFF = re.compile(r"[1-9][0-9]{0,8}")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")


def _bad(m: str, why: str) -> ConfigError:
    return ConfigError(f"bad measure {m!r}: {why}")


def validate_measures(measures: Sequence[str]) -> list[str]:
    """The measures, checked; anything pytrec_eval would reject, misread or crash on is a :class:`ConfigError`.

    ``mrr@K`` needs an ASCII integer K >= 1. A parameter (``name.param``) is accepted only where
    trec_eval reads one, and only in the form it reads: comma-separated integer cutoffs >= 1 for
    ``P``, ``recall``, ``ndcg_cut``, ``map_cut``, ``success``, ... (``ndcg_cut.x``, ``P.0``,
    ``P.1e3`` and ``P.10,`` are errors: pytrec_eval rejects them, aborts the process, or silently
    reads another cutoff); numbers for ``iprec_at_recall``, ``Rprec_mult`` and ``set_F``.
    """
    ok = []
    for m in measures:
        if not isinstance(m, str) or not m or any(c.isspace() for c in m):
            raise _bad(m, "empty or holds whitespace")
        if m.startswith("mrr@"):
            if not _CUTOFF.fullmatch(m[4:]):
                raise _bad(m, "expected mrr@K with an integer K >= 1 (ASCII digits), e.g. mrr@10")
            ok.append(m)
            continue
        name, dot, param = m.partition(".")
        if name not in pytrec_eval.supported_measures:
            raise ConfigError(f"unknown measure {m!r}; trec_eval measures: {', '.join(sorted(pytrec_eval.supported_measures))}, "
                              "or mrr@K")
        if dot:
            values = param.split(",")
            if name in _CUTOFF_MEASURES:
                if not all(_CUTOFF.fullmatch(v) for v in values):
                    raise _bad(m, f"{name} takes comma-separated integer cutoffs >= 1, e.g. {name}.10 or {name}.5,10")
            elif name in _FRACTION_MEASURES:
                if not all(_NUMBER.fullmatch(v) and float(v) <= 1.0 for v in values):
                    raise _bad(m, f"{name} takes comma-separated numbers in [0, 1], e.g. {name}.0.5")
            elif name in _POSITIVE_MEASURES:
                if not all(_NUMBER.fullmatch(v) and float(v) > 0 for v in values) or (name == "set_F" and len(values) != 1):
                    raise _bad(m, f"{name} takes {'one positive number' if name == 'set_F' else 'positive numbers'}, "
                                  f"e.g. {name}.0.5")
            else:
                raise _bad(m, f"{name} takes no parameter here; use {name}")
        ok.append(m)
    if not ok:
        raise ConfigError("no measures requested")
    return ok


_validate_measures = validate_measures


def evaluate_run(qrels: Qrels | str | Path, run: Run | str | Path, measures: Sequence[str] = DEFAULT_MEASURES,
                 complete: bool = False, relevance_level: int = 1) -> EvalResult:
    """Score a run against qrels with trec_eval semantics.

    Parameters
    ----------
    qrels : ``{qid: {docid: rel}}`` or a qrels file path.
    run : ``{qid: [Hit]}`` or a TREC run file path.
    measures : trec_eval measure names, plus ``mrr@K``.
    complete : average over all qrels queries (trec_eval ``-c``).
    relevance_level : minimum relevance counted as relevant by binary measures (trec_eval ``-l``).
    """
    measures = _validate_measures(measures)
    if not isinstance(qrels, Mapping):
        qrels = read_qrels(qrels)
    digits = 6  # in-memory runs: score them as they will be written (score:.6f)
    if not isinstance(run, Mapping):
        run = read_run(run)
        digits = None  # a file: scores exactly as trec_eval reads them
    plain = [m for m in measures if not m.startswith("mrr@")]
    per_query: dict[str, dict[str, float]] = {}
    if plain:
        ev = pytrec_eval.RelevanceEvaluator(qrels, set(plain), relevance_level=int(relevance_level))
        for qid, vals in ev.evaluate(_to_pytrec_run(run, digits=digits)).items():
            per_query.setdefault(qid, {}).update({k: float(v) for k, v in vals.items()})
    for m in measures:
        if m.startswith("mrr@"):
            ev = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=int(relevance_level))
            for qid, vals in ev.evaluate(_to_pytrec_run(run, cut=int(m[4:]), digits=digits)).items():
                per_query.setdefault(qid, {})[m] = float(vals["recip_rank"])
    names = [output_name(m) for m in measures]
    # pytrec_eval may expand a measure into several keys (e.g. "P" without cutoff); keep what it returned.
    keys = sorted({k for vals in per_query.values() for k in vals}) or names
    if complete:
        for qid in qrels:
            if qid not in per_query:
                per_query[qid] = {k: 0.0 for k in keys}
    n = len(per_query)
    aggregate = {}
    for k in keys:
        vals = [per_query[q].get(k, 0.0) for q in per_query]
        base = k.split("_")[0] if k.startswith("num_") else k
        aggregate[k] = float(sum(vals)) if (k in _SUM_MEASURES or base in _SUM_MEASURES) else (sum(vals) / n if n else 0.0)
    return EvalResult(tuple(measures), dict(sorted(per_query.items())), aggregate, n, complete)


# --------------------------------------------------------------------------- significance
@dataclass(frozen=True)
class SignificanceResult:
    """A paired test of system A against system B on one measure."""

    measure: str
    mean_a: float
    mean_b: float
    diff: float
    statistic: float
    p_value: float
    p_corrected: float
    n: int
    test: str = "paired t-test"


def paired_test(a: EvalResult, b: EvalResult, measure: str, n_comparisons: int = 1,
                test: str = "t") -> SignificanceResult:
    """Paired test of ``a`` vs ``b`` on the queries both scored; Bonferroni over ``n_comparisons``.

    ``test`` is ``"t"`` (two-sided paired t-test, scipy) or ``"randomization"`` (two-sided
    paired sign-flip permutation test, 10,000 samples, seed 0). Identical per-query values give
    p = 1.
    """
    name = output_name(measure)
    qids = sorted(set(a.per_query) & set(b.per_query))
    if not qids:
        raise ConfigError("the two runs share no evaluated query")
    xa = [a.per_query[q].get(name, 0.0) for q in qids]
    xb = [b.per_query[q].get(name, 0.0) for q in qids]
    diffs = [x - y for x, y in zip(xa, xb)]
    ma, mb = sum(xa) / len(xa), sum(xb) / len(xb)
    if all(abs(d) < 1e-12 for d in diffs):
        stat, p = 0.0, 1.0
    elif test == "t":
        from scipy import stats  # heavy

        res = stats.ttest_rel(xa, xb)
        stat, p = float(res.statistic), float(res.pvalue)
        if math.isnan(p):
            stat, p = 0.0, 1.0
    elif test == "randomization":
        d = np.asarray(diffs)
        rng = np.random.default_rng(0)
        signs = rng.choice([-1.0, 1.0], size=(10000, d.size))
        observed = abs(d.mean())
        stat = float(d.mean())
        p = float((np.abs((signs * d).mean(axis=1)) >= observed - 1e-15).mean())
    else:
        raise ConfigError(f"unknown test {test!r}; use 't' or 'randomization'")
    return SignificanceResult(name, ma, mb, ma - mb, stat, p, min(1.0, p * max(1, n_comparisons)), len(qids),
                              "paired t-test" if test == "t" else "randomization test")


# --------------------------------------------------------------------------- formatting
def format_trec_eval(result: EvalResult, run_name: str = "all", per_query: bool = False) -> str:
    """Text in trec_eval's layout: ``measure<TAB>qid<TAB>value`` (4 decimals)."""
    lines = []
    if per_query:
        for qid, vals in result.per_query.items():
            for k, v in vals.items():
                lines.append(f"{k:<22}\t{qid}\t{v:.4f}")
    for k, v in result.aggregate.items():
        lines.append(f"{k:<22}\t{run_name}\t{v:.4f}" if k not in _SUM_MEASURES else f"{k:<22}\t{run_name}\t{int(v)}")
    return "\n".join(lines) + "\n"


def format_table(results: Mapping[str, EvalResult], significance: Mapping[str, Mapping[str, SignificanceResult]] | None = None,
                 alpha: float = 0.05) -> str:
    """A Markdown table, a row per run; ``†`` marks p_corrected < ``alpha`` against the baseline."""
    keys = list(next(iter(results.values())).aggregate)
    lines = ["| run | queries | " + " | ".join(keys) + " |", "|---|---:|" + "---:|" * len(keys)]
    for name, r in results.items():
        cells = []
        for k in keys:
            mark = ""
            if significance and name in significance and k in significance[name]:
                mark = "†" if significance[name][k].p_corrected < alpha else ""
            cells.append(f"{r.aggregate[k]:.4f}{mark}")
        lines.append(f"| {name} | {r.num_queries} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def result_to_json(result: EvalResult) -> dict:
    return {"measures": list(result.measures), "aggregate": result.aggregate, "num_queries": result.num_queries,
            "complete": result.complete, "per_query": result.per_query}


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m optical_rerank.evaluate",
                                description="Score TREC runs with trec_eval semantics (pytrec_eval); "
                                            "several runs give a table with paired tests against the first.")
    p.add_argument("qrels", help="TREC qrels file")
    p.add_argument("runs", nargs="+", help="TREC run file(s)")
    p.add_argument("-m", "--measure", action="append", dest="measures",
                   help=f"trec_eval measure (repeatable) or mrr@K; default: {' '.join(DEFAULT_MEASURES)}")
    p.add_argument("-c", "--complete", action="store_true", help="average over all qrels queries (trec_eval -c)")
    p.add_argument("-q", "--per-query", action="store_true", help="also print per-query values (trec_eval -q)")
    p.add_argument("-l", "--relevance-level", type=int, default=1, help="relevance threshold (trec_eval -l)")
    p.add_argument("--format", choices=("trec_eval", "table", "json"), default=None,
                   help="output format (default: trec_eval for one run, table for several)")
    p.add_argument("--test", choices=("t", "randomization"), default="t", help="paired significance test")
    p.add_argument("--output", help="also write the output to this file (atomically)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.output:  # before any work: never over an input, always writable
        check_output_path(args.output)
        refuse_overwriting_inputs({"--output": args.output}, {"qrels": args.qrels, **{f"run {r}": r for r in args.runs}})
    measures = args.measures or list(DEFAULT_MEASURES)
    qrels = read_qrels(args.qrels)
    results = {}
    for i, r in enumerate(args.runs):
        name = r if r not in results else f"{r}#{i + 1}"
        results[name] = evaluate_run(qrels, r, measures, complete=args.complete, relevance_level=args.relevance_level)
    fmt = args.format or ("trec_eval" if len(results) == 1 else "table")
    if fmt == "trec_eval":
        text = "".join(format_trec_eval(r, "all", args.per_query) for r in results.values())
    elif fmt == "json":
        text = json.dumps({name: result_to_json(r) for name, r in results.items()}, indent=2) + "\n"
    else:
        names = list(results)
        sig = {}
        if len(names) > 1:
            base = results[names[0]]
            for name in names[1:]:
                sig[name] = {k: paired_test(results[name], base, k, n_comparisons=len(names) - 1, test=args.test)
                             for k in base.aggregate if k not in _SUM_MEASURES}
        text = format_table(results, sig)
        if sig:
            text += f"\n† p < 0.05 against {names[0]} ({args.test} test, Bonferroni over {len(names) - 1} comparisons)\n"
    sys.stdout.write(text)
    if args.output:
        write_text_atomic(args.output, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
