"""English relevance sources for training the teacher: TREC DL21, SQuAD 2.0 dev, SelQA, WikiQA, NQ-open.

``python -m optical_rerank.data prepare english-qa --out DIR`` writes, per source ``S``::

    DIR/topics/S.tsv                 qid<TAB>question (qids prefixed by the source: ``squad-...``)
    DIR/qrels/S.qrels                graded (DL21) or binary judgements of the source
    DIR/corpus/S/corpus.jsonl        the passages or sentences of the source (JsonCollection)
    DIR/runs/S.candidates.trec       the candidate list the source ships (DL21: BM25 top-100;
                                     SelQA: the sentences of the question's section; WikiQA: the
                                     sentences of the question's page); absent for SQuAD and NQ
    DIR/answers/nq-open.jsonl        NQ-open answer strings (it has no passages: positives are
                                     mined by answer string over retrieved passages)
    DIR/card.json                    files, sha256, counts, leakage drops

Split hygiene (every source here is a *training* source):

* every question whose normalised text equals an evaluation question is dropped: TREC DL19 and
  DL20 topics, the English and native questions of AfriQA dev and test (every language that is
  available), and the XQuAD questions of every language that is available;
* SQuAD 2.0 dev shares paragraphs with XQuAD (which is built from SQuAD v1.1 dev): every SQuAD
  question whose paragraph equals (normalised) an XQuAD English paragraph is dropped, with the
  paragraph; unanswerable SQuAD questions are kept out of the qrels (no positive).

A guard file that is not available offline is skipped and named in the card (``guard_missing``),
so the card says exactly what the guard covered.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..errors import ConfigError, InputFormatError
from ..trec_io import read_qrels, read_topics, write_corpus, write_qrels, write_run, write_topics
from ..types import Document, Hit, Query
from .afriqa import read_afriqa_queries
from .fetch import Fetcher, MissingDataError, read_json_file, read_text_lines
from .languages import AFRIQA_LANGUAGES, XQUAD_LANGUAGES
from .leakage import LeakageGuard, normalize_text
from .card import PreparedSet, make_card, split_list, staged_output, write_card
from .registry import (
    ENGLISH_QA_FILES,
    NQ_OPEN,
    RANK_LLM_DL21,
    SELQA,
    SQUAD,
    TREC_DL21,
    WIKIQA,
    afriqa_queries,
    trec_dl_files,
    xquad_file,
)

#: Source names of this set, in build order.
ENGLISH_QA_SOURCES = ("dl21", "squad", "selqa", "wikiqa", "nq-open")
_REGISTRY = {"dl21": (TREC_DL21, RANK_LLM_DL21), "squad": (SQUAD,), "selqa": (SELQA,),
             "wikiqa": (WIKIQA,), "nq-open": (NQ_OPEN,)}


def _doc_id(source: str, text: str) -> str:
    return f"{source}-{hashlib.sha256(' '.join(text.split()).encode('utf-8')).hexdigest()[:16]}"


def _clean(text: object) -> str:
    return " ".join(text.split()) if isinstance(text, str) else ""


class _Built:
    """What one source produced (before the leakage filter)."""

    def __init__(self) -> None:
        self.queries: list[Query] = []
        self.qrels: dict[str, dict[str, int]] = {}
        self.docs: dict[str, str] = {}
        self.candidates: dict[str, list[str]] = {}
        self.answers: dict[str, list[str]] = {}
        self.dropped: dict[str, int] = {}

    def doc(self, source: str, text: str, docid: str | None = None) -> str:
        docid = docid or _doc_id(source, text)
        self.docs.setdefault(docid, text)
        return docid

    def drop(self, why: str) -> None:
        self.dropped[why] = self.dropped.get(why, 0) + 1


# --------------------------------------------------------------------------- guard
def evaluation_guard(fetcher: Fetcher) -> tuple[LeakageGuard, set[str], list[str]]:
    """The evaluation questions and XQuAD paragraphs no training example may contain.

    Returns ``(question_guard, xquad_paragraphs_normalised, missing_urls)``.
    """
    guard = LeakageGuard()
    missing: list[str] = []
    for name in ("dl19", "dl20"):
        try:
            guard.add_texts((q.text for q in read_topics(fetcher.get(trec_dl_files(name)["topics"]))),
                            origin=f"trec {name} topics")
        except MissingDataError as exc:
            missing.append(exc.url)
    for lang in AFRIQA_LANGUAGES:
        for split in ("dev", "test"):
            try:
                rows = read_afriqa_queries(fetcher.get(afriqa_queries(lang, split)))
            except MissingDataError as exc:
                missing.append(exc.url)
                continue
            guard.add_texts((_clean(r.get(k)) for r in rows.values() for k in ("question", "translated_question")),
                            origin=f"afriqa {lang} {split}")
    paragraphs: set[str] = set()
    for lang in XQUAD_LANGUAGES:
        try:
            data = read_json_file(fetcher.get(xquad_file(lang)))
        except MissingDataError as exc:
            missing.append(exc.url)
            continue
        for art in data.get("data", []) if isinstance(data, dict) else []:
            for para in art.get("paragraphs", []):
                if lang == "en":
                    paragraphs.add(normalize_text(para.get("context", "")))
                guard.add_texts((qa.get("question", "") for qa in para.get("qas", [])), origin=f"xquad {lang}")
    return guard, paragraphs, missing


# --------------------------------------------------------------------------- sources
def _build_dl21(fetcher: Fetcher) -> _Built:
    files = ENGLISH_QA_FILES
    topics = {q.qid: q.text for q in read_topics(fetcher.get(files["trec-dl21"]["topics"]))}
    qrels = read_qrels(fetcher.get(files["trec-dl21"]["qrels"]))
    path = fetcher.get(files["rank_llm-dl21"]["candidates"])
    data = read_json_file(path)
    if not isinstance(data, list):
        raise InputFormatError(path, None, "expected a JSON list of {query, hits}")
    out = _Built()
    for i, entry in enumerate(data):
        hits = entry.get("hits") if isinstance(entry, dict) else None
        if not isinstance(hits, list) or not hits:
            raise InputFormatError(path, None, f"entry {i}: no hits list")
        qid = str(hits[0].get("qid"))
        if qid not in topics or qid not in qrels:
            out.drop("unjudged_topic")
            continue
        qq = f"dl21-{qid}"
        out.queries.append(Query(qq, topics[qid], "en"))
        out.candidates[qq] = [out.doc("dl21", _clean(h.get("content")), str(h["docid"])) for h in hits]
        out.qrels[qq] = {d: int(g) for d, g in qrels[qid].items() if d in out.docs}
    return out


def _build_squad(fetcher: Fetcher, xquad_paragraphs: set[str]) -> _Built:
    path = fetcher.get(ENGLISH_QA_FILES["squad"]["dev"])
    data = read_json_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputFormatError(path, None, "expected a SQuAD JSON object with a data list")
    out = _Built()
    for art in data["data"]:
        for para in art.get("paragraphs", []):
            context = _clean(para.get("context"))
            if normalize_text(context) in xquad_paragraphs:
                for _ in para.get("qas", []):
                    out.drop("xquad_paragraph")
                continue
            docid = out.doc("squad", context)
            for qa in para.get("qas", []):
                if qa.get("is_impossible"):
                    out.drop("unanswerable")
                    continue
                qid = f"squad-{qa['id']}"
                out.queries.append(Query(qid, _clean(qa.get("question")), "en"))
                out.qrels[qid] = {docid: 1}
    return out


def _build_selqa(fetcher: Fetcher) -> _Built:
    out = _Built()
    for split in ("dev", "test"):
        path = fetcher.get(ENGLISH_QA_FILES["selqa"][split])
        data = read_json_file(path)
        if not isinstance(data, list):
            raise InputFormatError(path, None, "expected a JSON list of SelQA questions")
        for i, row in enumerate(data):
            cands = [_clean(c) for c in row.get("candidates", [])]
            answers = set(row.get("answers", []))
            if not answers:
                out.drop("no_answer")
                continue
            qid = f"selqa-{split}-{i}"
            out.queries.append(Query(qid, _clean(row.get("question")), "en"))
            ids = [out.doc("selqa", c) for c in cands if c]
            out.candidates[qid] = list(dict.fromkeys(ids))
            out.qrels[qid] = {ids[j]: 1 for j in answers if 0 <= j < len(ids)}
    return out


def _build_wikiqa(fetcher: Fetcher) -> _Built:
    files = ENGLISH_QA_FILES["wikiqa"]
    cols = {k: read_text_lines(fetcher.get(f)) for k, f in files.items()}
    n = len(cols["id.txt"])
    if any(len(v) != n for v in cols.values()):
        raise InputFormatError(fetcher.get(files["sim.txt"]), None, "WikiQA columns differ in length")
    out = _Built()
    for q, s, lab, i in zip(cols["a.toks"], cols["b.toks"], cols["sim.txt"], cols["id.txt"]):
        qid = f"wikiqa-{i.strip()}"
        if qid not in out.candidates:
            out.queries.append(Query(qid, _clean(q), "en"))
            out.candidates[qid] = []
            out.qrels[qid] = {}
        docid = out.doc("wikiqa", _clean(s))
        if docid not in out.candidates[qid]:
            out.candidates[qid].append(docid)
        if lab.strip() == "1":
            out.qrels[qid][docid] = 1
    for q in list(out.queries):
        if not out.qrels[q.qid]:
            out.drop("no_positive")
    return out


def _build_nq(fetcher: Fetcher) -> _Built:
    path = fetcher.get(ENGLISH_QA_FILES["nq-open"]["dev"])
    out = _Built()
    for i, line in enumerate(read_text_lines(path)):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFormatError(path, i + 1, f"invalid JSON: {exc.msg}") from None
        qid = f"nq-{i}"
        out.queries.append(Query(qid, _clean(row.get("question")), "en"))
        out.answers[qid] = [a for a in row.get("answer", []) if isinstance(a, str) and a.strip()]
    return out


# --------------------------------------------------------------------------- set
def prepare_english_qa(out_dir: str | Path, *, sources: Iterable[str] | str | None = None,
                       skip_missing: bool = False) -> PreparedSet:
    """Build ``english-qa`` (layout and hygiene in the module docstring).

    ``sources`` chooses among :data:`ENGLISH_QA_SOURCES` (all by default). ``skip_missing`` only
    concerns the evaluation files of the leakage guard, which are recorded when missing; every
    training file is required.
    """
    chosen = split_list(sources) or list(ENGLISH_QA_SOURCES)
    unknown = sorted(set(chosen) - set(ENGLISH_QA_SOURCES))
    if unknown:
        raise ConfigError(f"english-qa has no source {unknown}; it has {', '.join(ENGLISH_QA_SOURCES)}")
    fetcher = Fetcher(skip_missing=skip_missing)
    guard, xquad_paragraphs, guard_missing = evaluation_guard(Fetcher(skip_missing=True))
    builders = {"dl21": lambda: _build_dl21(fetcher), "squad": lambda: _build_squad(fetcher, xquad_paragraphs),
                "selqa": lambda: _build_selqa(fetcher), "wikiqa": lambda: _build_wikiqa(fetcher),
                "nq-open": lambda: _build_nq(fetcher)}
    outputs: dict[str, dict] = {}
    counts: dict[str, dict] = {}
    dropped: dict[str, dict] = {}
    with staged_output(out_dir) as tmp:
        for name in chosen:
            built = builders[name]()
            kept = [q for q in built.queries if q.text and not guard.matches(q.text)]
            leaked = len(built.queries) - len(kept)
            keep = {q.qid for q in kept}
            write_topics(tmp / f"topics/{name}.tsv", kept)
            entry: dict[str, object] = {"topics": f"topics/{name}.tsv", "queries": len(kept)}
            qrels = {q: v for q, v in built.qrels.items() if q in keep and v}
            if qrels:
                write_qrels(tmp / f"qrels/{name}.qrels", qrels)
                entry["qrels"] = f"qrels/{name}.qrels"
            if built.docs:
                write_corpus(tmp / f"corpus/{name}/corpus.jsonl",
                             (Document(d, t) for d, t in sorted(built.docs.items())))
                entry["corpus"] = f"corpus/{name}/corpus.jsonl"
            if built.candidates:
                run = {q: [Hit(q, d, float(len(ids) - r), r + 1) for r, d in enumerate(ids)]
                       for q, ids in built.candidates.items() if q in keep}
                write_run(tmp / f"runs/{name}.candidates.trec", run, tag=f"{name}-candidates")
                entry["candidates"] = f"runs/{name}.candidates.trec"
            if built.answers:
                path = tmp / f"answers/{name}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(json.dumps({"qid": q, "answers": a}, ensure_ascii=False) + "\n"
                                        for q, a in built.answers.items() if q in keep), encoding="utf-8")
                entry["answers"] = f"answers/{name}.jsonl"
            outputs[name] = entry
            counts[name] = {"queries": len(kept), "with_positive": len(qrels), "documents": len(built.docs),
                            "judgements": sum(len(v) for v in qrels.values())}
            dropped[name] = {**built.dropped, "evaluation_question": leaked}
        card = make_card(
            "english-qa",
            description="English relevance training sources for the teacher (TREC DL21, SQuAD 2.0 dev "
                        "minus XQuAD paragraphs, SelQA, WikiQA, NQ-open), leakage-guarded against every "
                        "evaluation set.",
            fetcher=fetcher, sources=[s for n in chosen for s in _REGISTRY[n]], outputs=outputs,
            counts=counts, dropped=dropped,
            notes=["Training only. The guard holds TREC DL19/DL20 topics, AfriQA dev/test questions "
                   "(native and English) and XQuAD questions of every available language; SQuAD "
                   "questions on XQuAD paragraphs are dropped.",
                   "MS MARCO passage text (DL21) is for non-commercial research use only."],
            options={"sources": chosen},
            extra={"guard": {"size": len(guard), "origins": list(guard.origins),
                             "xquad_paragraphs": len(xquad_paragraphs), "guard_missing": guard_missing}},
        )
        write_card(tmp, card)
    return PreparedSet("english-qa", Path(out_dir), card)


def read_answers(path: str | Path) -> Mapping[str, list[str]]:
    """``{qid: [answer, ...]}`` from ``answers/*.jsonl`` of a prepared ``english-qa`` set."""
    out: dict[str, list[str]] = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines()):
        try:
            row = json.loads(line)
            out[str(row["qid"])] = [str(a) for a in row["answers"]]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputFormatError(path, i + 1, "expected {qid, answers}") from None
    return out
