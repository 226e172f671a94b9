"""English ranking groups for the teacher: candidates with text, labels, and the splits they come from.

:func:`build_bundle` turns the prepared sets ``english-qa``, ``afriqa`` and ``dl19`` into JSON-lines
files of *ranking groups* (one query, its candidate passages with text, a label per passage), the
one format the teacher's trainer and evaluator read, on CPU or on a GPU machine without Java::

    OUT/train.jsonl            training groups of every English training source
    OUT/dev/<set>.jsonl        choices only: AfriQA English dev, held-out DL21 topics
    OUT/test/<set>.jsonl       reported only: TREC DL19, AfriQA English test (every language)
    OUT/{dev,test}/<set>.qrels the full qrels of each evaluation set (trec_eval semantics)
    OUT/bundle.json            sources, counts, the split rule and the sha256 of every file

Labels: the judged grade (``>= 0``) where the source judges the passage, ``-1`` where it does not
(unjudged DL21 candidates, BM25 negatives of NQ-open). Candidates come from the source itself
where it ships them (DL21 BM25 top-100, SelQA sections, WikiQA pages) and from BM25 through
Pyserini otherwise (AfriQA English train over the AfriQA English collection, SQuAD and NQ-open
over the pooled Wikipedia passages of AfriQA, SQuAD, SelQA and WikiQA). NQ-open has answer
strings but no passages: a retrieved passage containing an answer string is labelled ``1`` (a
weak positive, as in DPR's training data), the others ``-1``.

Split rule: DL21 topics go to dev when ``sha256("dl21-dev:" + qid)`` is in the lowest quarter
(13 of 53 topics), to train otherwise; the other training sources have no dev part. Every training
question already passed the evaluation leakage guard of ``english-qa`` and ``afriqa``.
"""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import gzip
from dataclasses import dataclass

from ..data.english_qa import read_answers
from ..errors import ConfigError, InputFormatError
from ..files import sha256_file, write_json_atomic
from ..trec_io import Qrels, read_corpus, read_qrels, read_run, read_topics, write_qrels
from ..types import Query

__all__ = ["Bundle", "build_bundle", "load_bundle", "read_groups", "write_groups", "is_dl21_dev"]

AFRIQA_ENGLISH_LANGS = ("hau", "ibo", "swa", "twi", "yor", "zul")


def is_dl21_dev(qid: str) -> bool:
    """Whether DL21 topic ``qid`` is held out for choices (a fixed quarter, by hash)."""
    return int(hashlib.sha256(f"dl21-dev:{qid}".encode()).hexdigest(), 16) % 4 == 0


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: passages, training groups, evaluation groups and their qrels.

    A group is ``{"qid", "source", "query", "docids", "labels"}``; ``docs`` maps every docid to its
    text; ``dev``/``test`` map a set name to its groups (in BM25 order) and ``qrels`` a set name to
    its full qrels. ``sha256`` is that of ``bundle.json`` (which lists every file's sha256).
    """

    root: Path
    docs: Mapping[str, str]
    train: list
    dev: Mapping[str, list]
    test: Mapping[str, list]
    qrels: Mapping[str, Qrels]
    sha256: str


def load_bundle(root: str | Path, *, train: bool = True) -> Bundle:
    """Read a bundle written by :func:`build_bundle` (checking every file's sha256)."""
    root = Path(root)
    meta_path = root / "bundle.json"
    if not meta_path.is_file():
        raise ConfigError(f"{root} is not a teacher bundle (no bundle.json): run python -m optical_rerank.teacher groups")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    for rel, digest in meta["files"].items():
        if (rel != "train.jsonl" or train) and sha256_file(root / rel) != digest:
            raise InputFormatError(root / rel, None, "sha256 differs from bundle.json: rebuild the bundle")
    sets: dict[str, dict[str, list]] = {"dev": {}, "test": {}}
    qrels: dict[str, Qrels] = {}
    for split in sets:
        for p in sorted((root / split).glob("*.jsonl")):
            sets[split][p.stem] = read_groups(p)
            qrels[p.stem] = read_qrels(p.with_suffix(".qrels"))
    return Bundle(root, read_docs(root / "docs.jsonl.gz"), read_groups(root / "train.jsonl") if train else [],
                  sets["dev"], sets["test"], qrels, sha256_file(meta_path))


def write_groups(path: Path, groups: Iterable[Mapping]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for g in groups:
            fh.write(json.dumps(g, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_docs(path: str | Path) -> dict[str, str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return {r["docid"]: r["text"] for r in map(json.loads, fh)}


def read_groups(path: str | Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
    return out


def _group(pool: dict[str, str], qid: str, source: str, query: str, docids: Sequence[str],
           texts: Mapping[str, str], labels: Mapping[str, int], default: int) -> dict:
    """One group; its passages' texts go into ``pool`` (written once for the whole bundle)."""
    ids = [d for d in dict.fromkeys(docids) if d in texts]
    for d in ids:
        pool.setdefault(d, texts[d])
    return {"qid": qid, "source": source, "query": query, "docids": ids,
            "labels": [int(labels.get(d, default)) for d in ids]}



def _bm25(index: Path, queries: Sequence[Query], k: int) -> dict[str, list[str]]:
    from ..first_stage import Bm25Retriever  # heavy: starts the JVM

    retriever = Bm25Retriever(index)
    out: dict[str, list[str]] = {}
    for i in range(0, len(queries), 256):
        batch = queries[i:i + 256]
        res = retriever.searcher.batch_search([q.text for q in batch], [q.qid for q in batch], k=k, threads=2)
        for q in batch:
            out[q.qid] = [h.docid for h in res.get(q.qid, [])]
    return out


def _index(corpus_files: Sequence[Path], work: Path, name: str) -> tuple[Path, dict[str, str]]:
    from ..first_stage import build_index, is_complete_index  # heavy: JVM

    texts: dict[str, str] = {}
    for f in corpus_files:
        for doc in read_corpus(f):
            texts.setdefault(doc.docid, doc.contents)
    pooled = work / f"{name}.corpus" / "corpus.jsonl"
    idx = work / f"{name}.index"
    if not is_complete_index(idx):
        pooled.parent.mkdir(parents=True, exist_ok=True)
        with open(pooled, "w", encoding="utf-8") as fh:
            for d, t in sorted(texts.items()):
                fh.write(json.dumps({"id": d, "contents": t}, ensure_ascii=False) + "\n")
        build_index(pooled, idx, language="en")
    return idx, texts


def build_bundle(english_qa: str | Path, afriqa: str | Path, dl19: str | Path, out: str | Path, *,
                 work: str | Path, train_depth: int = 30, eval_depth: int = 100) -> dict:
    """Write the bundle described in the module docstring; returns its ``bundle.json``."""
    eq, aq, dl, out, work = (Path(p) for p in (english_qa, afriqa, dl19, out, work))
    for p, what in ((eq, "english-qa"), (aq, "afriqa"), (dl, "dl19")):
        if not (p / "card.json").is_file():
            raise ConfigError(f"{p} is not a prepared {what} set: run python -m optical_rerank.data prepare {what}")
    work.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict] = {}
    train: list[dict] = []
    pool: dict[str, str] = {}

    # AfriQA English collection: train groups (BM25 top-k + gold), dev and test evaluation groups.
    a_idx, a_texts = _index([aq / "corpus/en/corpus.jsonl"], work, "afriqa-en")
    for split in ("train", "dev", "test"):
        queries: list[Query] = []
        qrels: dict[str, dict[str, int]] = {}
        for lang in AFRIQA_ENGLISH_LANGS:
            t = aq / f"topics/afriqa.{lang}.{split}.translated.tsv"
            r = aq / f"qrels/afriqa.{lang}.{split}.qrels"
            if not (t.is_file() and r.is_file()):
                continue
            qr = read_qrels(r)
            for q in read_topics(t):
                qq = f"{lang}-{q.qid}"
                queries.append(Query(qq, q.text, "en"))
                if q.qid in qr:
                    qrels[qq] = dict(qr[q.qid])
        depth = train_depth if split == "train" else eval_depth
        cands = _bm25(a_idx, queries, depth)
        groups = []
        for q in queries:
            ids = cands[q.qid] if split != "train" else [*qrels.get(q.qid, {}), *cands[q.qid]]
            groups.append(_group(pool, q.qid, "afriqa-en", q.text, ids, a_texts, qrels.get(q.qid, {}), 0))
        if split == "train":
            train += [g for g in groups if any(x > 0 for x in g["labels"])]
        else:
            name = f"afriqa-en-{split}"
            write_groups(out / split / f"{name}.jsonl", groups)
            _write_qrels(out / split / f"{name}.qrels", qrels)
        counts[f"afriqa-en-{split}"] = {"queries": len(queries), "judged": len(qrels)}

    # Pooled Wikipedia passages for SQuAD and NQ-open.
    wiki_files = [aq / "corpus/en/corpus.jsonl"] + [eq / f"corpus/{s}/corpus.jsonl" for s in ("squad", "selqa", "wikiqa")]
    w_idx, w_texts = _index(wiki_files, work, "wiki-en")
    for source in ("squad", "nq-open"):
        queries = read_topics(eq / f"topics/{source}.tsv")
        qrels = read_qrels(eq / f"qrels/{source}.qrels") if (eq / f"qrels/{source}.qrels").is_file() else {}
        cands = _bm25(w_idx, queries, train_depth)
        answers: dict[str, list[str]] = {}
        if source == "nq-open":
            answers = dict(read_answers(eq / "answers/nq-open.jsonl"))
        n = 0
        for q in queries:
            labels = dict(qrels.get(q.qid, {}))
            for d in cands[q.qid]:
                if any(a.lower() in w_texts[d].lower() for a in answers.get(q.qid, ())):
                    labels[d] = 1
            g = _group(pool, q.qid, source, q.text, [*qrels.get(q.qid, {}), *cands[q.qid]], w_texts, labels, 0)
            if len(g["docids"]) >= 2:
                train.append(g)
                n += 1
        counts[source] = {"queries": len(queries), "groups": n}

    # Sources that ship their candidates: DL21, SelQA, WikiQA.
    for source in ("dl21", "selqa", "wikiqa"):
        queries = read_topics(eq / f"topics/{source}.tsv")
        qrels = read_qrels(eq / f"qrels/{source}.qrels")
        run = read_run(eq / f"runs/{source}.candidates.trec")
        texts = {d.docid: d.contents for d in read_corpus(eq / f"corpus/{source}/corpus.jsonl")}
        dev_groups, dev_qrels, n = [], {}, 0
        for q in queries:
            ids = [h.docid for h in run.get(q.qid, [])]
            g = _group(pool, q.qid, source, q.text, ids, texts, qrels.get(q.qid, {}), -1 if source == "dl21" else 0)
            if source == "dl21" and is_dl21_dev(q.qid):
                dev_groups.append(g)
                dev_qrels[q.qid] = dict(qrels.get(q.qid, {}))
            elif len(g["docids"]) >= 2:
                train.append(g)
                n += 1
        if dev_groups:
            write_groups(out / "dev" / "dl21-dev.jsonl", dev_groups)
            _write_qrels(out / "dev" / "dl21-dev.qrels", dev_qrels)
        counts[source] = {"queries": len(queries), "train_groups": n, "dev_groups": len(dev_groups)}

    # TREC DL19: RankLLM's BM25 top-100 (evaluation only).
    dl_q = read_topics(dl / "topics/dl19.tsv")
    dl_run = read_run(dl / "runs/dl19.bm25.trec")
    dl_texts = {d.docid: d.contents for d in read_corpus(dl / "corpus/passages/corpus.jsonl")}
    dl_qrels = read_qrels(dl / "qrels/dl19.qrels")
    write_groups(out / "test" / "dl19.jsonl",
                 [_group(pool, q.qid, "dl19", q.text, [h.docid for h in dl_run.get(q.qid, [])][:eval_depth], dl_texts,
                         dl_qrels.get(q.qid, {}), 0) for q in dl_q])
    _write_qrels(out / "test" / "dl19.qrels", {q: dict(v) for q, v in dl_qrels.items()})
    counts["dl19"] = {"queries": len(dl_q)}

    train.sort(key=lambda g: (g["source"], g["qid"]))
    write_groups(out / "train.jsonl", train)
    counts["train_groups"] = len(train)
    counts["train_pairs"] = sum(len(g["docids"]) for g in train)
    with gzip.GzipFile(out / "docs.jsonl.gz", "wb", compresslevel=9, mtime=0) as raw, \
            io.TextIOWrapper(raw, encoding="utf-8") as fh:
        for d, t in sorted(pool.items()):
            fh.write(json.dumps({"docid": d, "text": t}, ensure_ascii=False) + "\n")
    counts["documents"] = len(pool)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "bundle.json")
    bundle = {"counts": counts, "train_depth": train_depth, "eval_depth": eval_depth,
              "split_rule": "DL21 topic -> dev when int(sha256('dl21-dev:'+qid), 16) % 4 == 0",
              "files": {str(p.relative_to(out)): sha256_file(p) for p in files}}
    write_json_atomic(out / "bundle.json", bundle)
    return bundle


def _write_qrels(path: Path, qrels: Mapping[str, Mapping[str, int]]) -> None:
    write_qrels(path, qrels)
