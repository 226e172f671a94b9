"""TREC DL 2019/2020 passage ranking: topics, graded qrels and BM25 top-100 candidates with text.

Output (``prepare dl19 --out DIR``; ``dl20`` alike)::

    DIR/topics/dl19.tsv                    judged topics (qid<TAB>query), original qids
    DIR/qrels/dl19.qrels                   the official graded qrels (0-3), every judgement
    DIR/runs/dl19.bm25.trec                BM25 top-100 per topic (RankLLM's Pyserini run)
    DIR/corpus/passages/corpus.jsonl       the text of every candidate passage (MS MARCO ids)
    DIR/card.json

The corpus holds only the candidate passages, not the 8.8M-passage MS MARCO collection: it is
for reranking the run. The qrels are kept whole (judged passages outside the candidates
included) so that nDCG and recall are computed exactly as with the official qrels; the card
counts how many judged passages are in the corpus.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import InputFormatError
from ..trec_io import read_qrels, read_run, read_topics, write_corpus, write_qrels, write_run, write_topics
from ..types import Document, Query
from .card import PreparedSet, make_card, staged_output, write_card
from .fetch import Fetcher, read_json_file
from .leakage import normalize_text
from .registry import RANK_LLM, TREC_DL, trec_dl_files


def read_candidate_texts(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``({docid: passage}, {qid: query})`` from a RankLLM ``retrieve_results_*.json`` file."""
    data = read_json_file(path)
    if not isinstance(data, list):
        raise InputFormatError(path, None, "expected a JSON list of {query, hits}")
    texts: dict[str, str] = {}
    queries: dict[str, str] = {}
    for i, entry in enumerate(data):
        hits = entry.get("hits") if isinstance(entry, dict) else None
        if not isinstance(hits, list):
            raise InputFormatError(path, None, f"entry {i}: no hits list")
        for hit in hits:
            try:
                docid, qid, content = str(hit["docid"]), str(hit["qid"]), hit["content"]
            except (KeyError, TypeError):
                raise InputFormatError(path, None, f"entry {i}: a hit lacks docid, qid or content") from None
            if not isinstance(content, str):
                raise InputFormatError(path, None, f"entry {i}: passage {docid} has no text")
            if docid in texts and texts[docid] != content:
                raise InputFormatError(path, None, f"passage {docid} has two different texts")
            texts[docid] = content
            if isinstance(entry.get("query"), str):
                queries.setdefault(qid, entry["query"])
    return texts, queries


def prepare_trec_dl(name: str, out_dir: str | Path, *, skip_missing: bool = False) -> PreparedSet:
    """Build ``dl19`` or ``dl20`` (layout in the module docstring).

    ``skip_missing`` is accepted for a uniform interface; every file of a DL set is required.
    """
    files = trec_dl_files(name)
    fetcher = Fetcher(skip_missing=False)
    topics_path = fetcher.get(files["topics"])
    qrels_path = fetcher.get(files["qrels"])
    run_path = fetcher.get(files["run"])
    cand_path = fetcher.get(files["candidates"])

    all_topics = read_topics(topics_path)
    qrels = read_qrels(qrels_path)
    run = read_run(run_path)
    texts, cand_queries = read_candidate_texts(cand_path)

    missing_text = sorted({h.docid for hits in run.values() for h in hits} - texts.keys())
    if missing_text:
        raise InputFormatError(run_path, None, f"{len(missing_text)} run passages have no text in "
                                               f"{files['candidates'].url} (first: {missing_text[0]})")
    topic_text = {q.qid: q.text for q in all_topics}
    unknown = sorted(set(run) - topic_text.keys())
    if unknown:
        raise InputFormatError(run_path, None, f"run topics not in {files['topics'].url}: {unknown[:5]}")
    judged = [q for q in all_topics if q.qid in qrels]
    unjudged_in_run = sorted(set(run) - qrels.keys())
    without_run = [q.qid for q in judged if q.qid not in run]
    query_mismatch = sum(1 for qid, text in cand_queries.items()
                         if qid in topic_text and normalize_text(text) != normalize_text(topic_text[qid]))

    run_docs = sorted({h.docid for qid in run if qid in qrels for h in run[qid]})
    judged_docs = {d for v in qrels.values() for d in v}
    run_out = {q.qid: run[q.qid] for q in judged if q.qid in run}
    with staged_output(out_dir) as tmp:
        write_topics(tmp / f"topics/{name}.tsv", [Query(q.qid, q.text, "en") for q in judged])
        write_qrels(tmp / f"qrels/{name}.qrels", qrels)
        write_run(tmp / f"runs/{name}.bm25.trec", run_out, tag="bm25")
        write_corpus(tmp / "corpus/passages/corpus.jsonl", (Document(d, texts[d]) for d in run_docs))
        outputs = {
            "topics": {name: {"path": f"topics/{name}.tsv", "queries": len(judged), "language": "en"}},
            "qrels": {name: {"path": f"qrels/{name}.qrels", "judgements": sum(len(v) for v in qrels.values()),
                             "corpus": "corpus/passages/corpus.jsonl (candidates only)"}},
            "runs": {f"{name}.bm25": {"path": f"runs/{name}.bm25.trec",
                                      "lines": sum(len(v) for v in run_out.values()),
                                      "depth": max((len(v) for v in run_out.values()), default=0)}},
            "corpora": {"passages": {"path": "corpus/passages/corpus.jsonl", "documents": len(run_docs)}},
        }
        grades: dict[str, int] = {}
        for v in qrels.values():
            for rel in v.values():
                grades[str(rel)] = grades.get(str(rel), 0) + 1
        card = make_card(
            name,
            description=f"TREC DL {'2019' if name == 'dl19' else '2020'} passage ranking: judged topics, "
                        "official graded qrels, and RankLLM's BM25 top-100 candidates with passage text.",
            fetcher=fetcher, sources=[TREC_DL, RANK_LLM], outputs=outputs,
            counts={"topics_in_file": len(all_topics), "judged_topics": len(judged),
                    "qrels": sum(len(v) for v in qrels.values()), "qrels_by_grade": dict(sorted(grades.items())),
                    "judged_passages": len(judged_docs), "candidate_passages": len(run_docs),
                    "judged_passages_in_corpus": len(judged_docs & set(run_docs)),
                    "run_lines": sum(len(v) for v in run_out.values())},
            dropped={"unjudged_topics": len(all_topics) - len(judged),
                     "unjudged_topics_in_run": len(unjudged_in_run),
                     "judged_topics_without_candidates": len(without_run),
                     "candidate_query_text_differs_from_topics": query_mismatch},
            notes=["MS MARCO passage text is for NON-COMMERCIAL RESEARCH USE ONLY "
                   "(https://microsoft.github.io/msmarco/); do not redistribute this corpus.",
                   "Relevance grades: 0 irrelevant, 1 related, 2 highly relevant, 3 perfectly relevant; "
                   "binary measures on DL passage conventionally count grade >= 2 as relevant.",
                   "The corpus holds only the BM25 candidates; the qrels are complete, so judged "
                   "passages outside the candidates count as missed (as in official evaluation)."],
            options={"set": name},
            extra={"synthetic_relevance": False},
        )
        write_card(tmp, card)
    return PreparedSet(name, Path(out_dir), card)
