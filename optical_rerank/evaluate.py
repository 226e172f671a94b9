"""Scoring with trec_eval semantics (pytrec_eval), per-query values and significance tests.

``python -m optical_rerank.evaluate QRELS RUN [RUN ...] -m map -m ndcg_cut.10 -m recip_rank -m recall.100``

* Measures use trec_eval names (``map``, ``ndcg_cut.10``, ``recip_rank``, ``recall.100``,
  ``P.10``, ...) and are computed by pytrec_eval, i.e. by trec_eval's own C code; output keys
  are trec_eval's (``ndcg_cut_10``). A test checks equality with the trec_eval bundled in
  Pyserini's fatjar on the same files.
* ``mrr@K`` (e.g. ``mrr@10``) is MS MARCO's MRR@K: trec_eval's ``recip_rank`` on each ranking
  cut at K (ranking in trec_eval's order: score descending, ties by docid descending).
* ir_measures names are accepted beside trec_eval's (:func:`measure_from_ir_measures`): ``nDCG@10``
  (``ndcg_cut.10``), ``RR@10`` (``mrr@10``), ``RR`` (``recip_rank``), ``R@100`` (``recall.100``),
  ``P@10``, ``AP`` (``map``), ``AP@100`` (``map_cut.100``), ``nDCG``, ``Bpref``, ``Rprec``,
  ``Success@10``, ``NumQ``, ``NumRet``, ``NumRel``, ``NumRelRet``; output names stay trec_eval's.
  ``-m all_trec`` is every trec_eval measure (as trec_eval's ``-m all_trec``).
* **One averaging convention** (:data:`AVERAGING`), the same in ``evaluate``, ``run --qrels`` and
  ``experiment``: trec_eval ``-c``, the mean over every judged query among the topics run; a judged
  query the run has no hits for scores 0. ``evaluate`` averages so by default (``-c`` is accepted
  and changes nothing) and says so on stderr (in the table's footnote); ``--topics FILE`` restricts
  the judged queries to those topics. ``-l`` is trec_eval's relevance level, ``-M N`` its depth
  (only the top N of each ranking count).
* ``-q`` prints per-query rows as trec_eval ``-c -q`` does: a row for every query of the run that
  the qrels judge, none for the judged queries it misses (they count in the mean as 0).
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
AVERAGING = ("trec_eval -c: the mean over every judged query among the topics run "
             "(a judged query without hits scores 0)")
#: trec_eval's ``-m all_trec``: every measure pytrec_eval computes (``runid`` and ``relstring`` are not numbers).
ALL_TREC = tuple(sorted(m for m in pytrec_eval.supported_measures if m not in ("runid", "relstring")))
_IR_MEASURES = {"AP": "map", "RR": "recip_rank", "nDCG": "ndcg", "Bpref": "bpref", "Rprec": "Rprec",
                "NumQ": "num_q", "NumRet": "num_ret", "NumRel": "num_rel", "NumRelRet": "num_rel_ret",
                "infAP": "infAP"}
_IR_CUTOFF = {"nDCG": "ndcg_cut.{}", "RR": "mrr@{}", "R": "recall.{}", "P": "P.{}", "AP": "map_cut.{}",
              "Success": "success.{}"}


def measure_from_ir_measures(measure: str) -> str:
    """The trec_eval (or ``mrr@K``) name of an ir_measures name (``nDCG@10`` → ``ndcg_cut.10``); others unchanged."""
    if measure in _IR_MEASURES:
        return _IR_MEASURES[measure]
    name, at, cutoff = measure.partition("@")
    if at and name in _IR_CUTOFF and _CUTOFF.fullmatch(cutoff):
        return _IR_CUTOFF[name].format(cutoff)
    return measure
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
    expanded: list = []
    for m in measures:
        expanded.extend(ALL_TREC if m == "all_trec" else [measure_from_ir_measures(m) if isinstance(m, str) else m])
    for m in dict.fromkeys(expanded):
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
                              "all_trec, mrr@K, or an ir_measures name (nDCG@10, RR@10, R@100, P@10, AP, ...)")
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


_MIN_GEO_MEAN = 0.00001  # trec_eval's floor of a query's value in gm_map / gm_bpref


def _missing_value(key: str, n_rel: int) -> float:
    """A measure's value for a judged query the run has no hits for (trec_eval -c)."""
    if key == "num_q":
        return 1.0
    if key == "num_rel":
        return float(n_rel)
    if key.startswith("gm_"):
        return math.log(_MIN_GEO_MEAN)
    return 0.0


def evaluate_run(qrels: Qrels | str | Path, run: Run | str | Path, measures: Sequence[str] = DEFAULT_MEASURES,
                 complete: bool = False, relevance_level: int = 1, depth: int | None = None,
                 topics: Sequence[str] | None = None) -> EvalResult:
    """Score a run against qrels with trec_eval semantics.

    Parameters
    ----------
    qrels : ``{qid: {docid: rel}}`` or a qrels file path.
    run : ``{qid: [Hit]}`` or a TREC run file path.
    measures : trec_eval measure names, plus ``mrr@K``.
    complete : average over all qrels queries (trec_eval ``-c``; :data:`AVERAGING`); the judged
        queries the run misses are in ``meta["missing"]`` (0 in the mean, no ``-q`` row).
    relevance_level : minimum relevance counted as relevant by binary measures (trec_eval ``-l``).
    depth : only the top ``depth`` hits of each ranking count (trec_eval ``-M``).
    topics : the query ids that were run: the qrels are restricted to them (and the run too).
    """
    if depth is not None and depth < 1:
        raise ConfigError(f"-M (depth) must be >= 1, got {depth}")
    measures = _validate_measures(measures)
    if not isinstance(qrels, Mapping):
        qrels = read_qrels(qrels)
    digits = 6  # in-memory runs: score them as they will be written (score:.6f)
    if not isinstance(run, Mapping):
        run = read_run(run)
        digits = None  # a file: scores exactly as trec_eval reads them
    if topics is not None:
        wanted = set(topics)
        qrels = {q: v for q, v in qrels.items() if q in wanted}
        run = {q: v for q, v in run.items() if q in wanted}
    plain = [m for m in measures if not m.startswith("mrr@")]
    per_query: dict[str, dict[str, float]] = {}
    if plain:
        ev = pytrec_eval.RelevanceEvaluator(qrels, set(plain), relevance_level=int(relevance_level))
        for qid, vals in ev.evaluate(_to_pytrec_run(run, cut=depth, digits=digits)).items():
            per_query.setdefault(qid, {}).update({k: float(v) for k, v in vals.items()})
    for m in measures:
        if m.startswith("mrr@"):
            ev = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=int(relevance_level))
            cut = int(m[4:]) if depth is None else min(int(m[4:]), depth)
            for qid, vals in ev.evaluate(_to_pytrec_run(run, cut=cut, digits=digits)).items():
                per_query.setdefault(qid, {})[m] = float(vals["recip_rank"])
    names = [output_name(m) for m in measures]
    # pytrec_eval may expand a measure into several keys (e.g. "P" without cutoff); keep what it returned.
    # trec_eval's order of measures (pytrec_eval keeps it), then mrr@K in the order asked
    keys = list(dict.fromkeys(k for vals in per_query.values() for k in vals)) or names
    keys = [k for k in keys if not k.startswith("mrr@")] + [k for k in keys if k.startswith("mrr@")]
    per_query = {q: {k: vals[k] for k in keys if k in vals} for q, vals in per_query.items()}
    missing = []
    if complete:  # as trec_eval -c: a judged query without hits has every measure 0 (its relevant documents counted)
        for qid in qrels:
            if qid not in per_query:
                n_rel = sum(1 for rel in qrels[qid].values() if rel >= relevance_level)
                per_query[qid] = {k: _missing_value(k, n_rel) for k in keys}
                missing.append(qid)
    n = len(per_query)
    aggregate = {}
    for k in keys:
        vals = [per_query[q].get(k, 0.0) for q in per_query]
        base = k.split("_")[0] if k.startswith("num_") else k
        if k in _SUM_MEASURES or base in _SUM_MEASURES:
            aggregate[k] = float(sum(vals))
        elif k.startswith("gm_"):  # geometric means: pytrec_eval gives log values per query
            aggregate[k] = math.exp(sum(vals) / n) if n else 0.0
        else:
            aggregate[k] = sum(vals) / n if n else 0.0
    return EvalResult(tuple(measures), dict(sorted(per_query.items())), aggregate, n, complete,
                      {"missing": sorted(missing)} if missing else {})


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
        missing = set(result.meta.get("missing", ()))
        for qid, vals in result.per_query.items():
            if qid in missing:  # trec_eval -c -q prints no row for a judged query the run misses
                continue
            for k, v in vals.items():
                lines.append(f"{k:<22}\t{qid}\t{v:.4f}" if k not in _SUM_MEASURES else f"{k:<22}\t{qid}\t{int(v)}")
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
    p.add_argument("qrels", help="TREC qrels file, or a Pyserini qrels name mapped to a prepared set (dl19-passage, ...)")
    p.add_argument("runs", nargs="+", help="TREC run file(s)")
    p.add_argument("-m", "--measure", action="append", dest="measures",
                   help="trec_eval measure (repeatable), all_trec, mrr@K or an ir_measures name (nDCG@10, RR@10, "
                        f"R@100, AP, ...); default: {' '.join(DEFAULT_MEASURES)}")
    p.add_argument("-c", "--complete", action="store_true",
                   help="accepted for trec_eval's sake: averages are always trec_eval -c's (every judged query "
                        "among the topics; a judged query without hits scores 0)")
    p.add_argument("-M", "--depth", type=int, help="only the top N hits of each ranking count (trec_eval -M)")
    p.add_argument("--topics", help="topics file: average over the judged queries among these topics "
                                    "(default: every judged query)")
    p.add_argument("-q", "--per-query", action="store_true", help="also print per-query values (trec_eval -q)")
    p.add_argument("-l", "--relevance-level", type=int, default=1, help="relevance threshold (trec_eval -l)")
    p.add_argument("--format", choices=("trec_eval", "table", "json"), default=None,
                   help="output format (default: trec_eval for one run, table for several)")
    p.add_argument("--test", choices=("t", "randomization"), default="t", help="paired significance test")
    p.add_argument("--output", help="also write the output to this file (atomically)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    measures = validate_measures(args.measures or list(DEFAULT_MEASURES))
    from .data.pyserini_names import resolve_pyserini_name

    qrels_path = resolve_pyserini_name(args.qrels, "qrels")
    topics_path = resolve_pyserini_name(args.topics, "topics") if args.topics else None
    if args.output:  # before any work: never over an input, always writable
        check_output_path(args.output)
        inputs = {"qrels": qrels_path, **{f"run {r}": r for r in args.runs}}
        if topics_path:
            inputs["topics"] = topics_path
        refuse_overwriting_inputs({"--output": args.output}, inputs)
    qrels = read_qrels(qrels_path)
    topics = None
    if topics_path:
        from .trec_io import read_topics

        topics = [q.qid for q in read_topics(topics_path)]
    results = {}
    for i, r in enumerate(args.runs):
        name = r if r not in results else f"{r}#{i + 1}"
        results[name] = evaluate_run(qrels, r, measures, complete=True, relevance_level=args.relevance_level,
                                     depth=args.depth, topics=topics)
    n_judged = next(iter(results.values())).num_queries
    convention = f"averaged over {n_judged} judged queries ({AVERAGING})"
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
        text = format_table(results, sig) + f"\nScores {convention}.\n"
        if sig:
            text += f"\n† p < 0.05 against {names[0]} ({args.test} test, Bonferroni over {len(names) - 1} comparisons)\n"
    sys.stdout.write(text)
    if fmt != "table":
        print(f"evaluate: {convention}", file=sys.stderr)
    if args.output:
        write_text_atomic(args.output, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
