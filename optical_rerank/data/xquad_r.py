"""XQuAD-R: questions in 12 languages -> English paragraphs and English answer sentences.

Output (``prepare xquad-r --out DIR``)::

    DIR/corpus/paragraphs/corpus.jsonl          240 English paragraphs (id xquad-p000 .. p239,
                                                title = Wikipedia article)
    DIR/corpus/sentences/corpus.jsonl           English sentences from XQuAD-R's sentence breaks
                                                (id xquad-p000-s00, ...)
    DIR/topics/xquad-r.<lang>.tsv               1,190 questions (qid <lang>-<SQuAD id>)
    DIR/qrels/xquad-r.<lang>.paragraph.qrels    the paragraph the question was written on
    DIR/qrels/xquad-r.<lang>.sentence.qrels     the English sentence(s) overlapping the English
                                                answer span (LAReQA's definition; a span that
                                                crosses a sentence break judges both)
    DIR/card.json

XQuAD is 12-way parallel with shared question ids, so every language's questions are judged
against the same English paragraph and sentences. Languages are the 11 of XQuAD-R (``ar de el en
es hi ru th tr vi zh``) read from ``xquad-r/<lang>.json``, plus Romanian from XQuAD
``xquad.ro.json``; since relevance is defined on the English side, Romanian gets both paragraph
and sentence qrels too.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFormatError
from ..trec_io import write_corpus, write_qrels, write_topics
from ..types import Document, Query
from .card import PreparedSet, make_card, split_list, staged_output, write_card
from .fetch import Fetcher, read_json_file
from .languages import XQUAD_LANGUAGES, pick_languages
from .registry import XQUAD, XQUAD_PARAGRAPHS, XQUAD_QUESTIONS, XQUAD_R, xquad_file, xquad_r_file

#: Question languages: the 11 of XQuAD-R plus Romanian (from XQuAD) = the 12 of XQuAD.
LANGS = XQUAD_LANGUAGES


@dataclass(frozen=True)
class XquadQuestion:
    """One question of an XQuAD(-R) file: its SQuAD id, text and paragraph index."""

    qid: str
    text: str
    paragraph: int


def _paragraphs(path: Path, data: object) -> list[tuple[str, dict]]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputFormatError(path, None, 'expected a SQuAD JSON object with a "data" list')
    out = []
    for article in data["data"]:
        for para in article.get("paragraphs", []):
            out.append((str(article.get("title", "")), para))
    return out


def read_xquad_questions(path: Path) -> list[XquadQuestion]:
    """The questions of a SQuAD-format file, in file order, with their paragraph index."""
    out = []
    for pi, (_, para) in enumerate(_paragraphs(path, read_json_file(path))):
        for qa in para.get("qas", []):
            if "id" not in qa or not isinstance(qa.get("question"), str):
                raise InputFormatError(path, None, f"paragraph {pi}: a question lacks an id or text")
            out.append(XquadQuestion(str(qa["id"]), " ".join(qa["question"].split()), pi))
    return out


def prepare_xquad_r(out_dir: str | Path, *, langs: Iterable[str] | str | None = None,
                    skip_missing: bool = False) -> PreparedSet:
    """Build the XQuAD-R paragraph- and sentence-retrieval set (layout in the module docstring).

    Parameters
    ----------
    langs : question languages (ISO 639-1 or 639-3); default all 12.
    skip_missing : skip and report languages whose file is unavailable instead of failing
        (the English file is always required).
    """
    lang_list = pick_languages(split_list(langs), list(LANGS), "xquad", "XQuAD-R")
    fetcher = Fetcher(skip_missing=skip_missing)
    en_path = fetcher.get(xquad_r_file("en"))
    en_paras = _paragraphs(en_path, read_json_file(en_path))

    paragraphs: list[Document] = []
    sentences: list[Document] = []
    para_qrels: dict[str, str] = {}  # SQuAD id -> paragraph docid
    sent_qrels: dict[str, list[str]] = {}
    realigned = empty_sentences = multi_sentence = 0
    for pi, (title, para) in enumerate(en_paras):
        pid = f"xquad-p{pi:03d}"
        context = para.get("context")
        breaks, sents = para.get("sentence_breaks"), para.get("sentences")
        if not isinstance(context, str) or not isinstance(breaks, list) or not isinstance(sents, list) \
                or len(breaks) != len(sents):
            raise InputFormatError(en_path, None, f"paragraph {pi}: needs context, sentence_breaks and "
                                                  "sentences of equal length (an XQuAD-R file)")
        paragraphs.append(Document(pid, context, title or None))
        sids: list[str | None] = []
        for si, text in enumerate(sents):
            sid = f"{pid}-s{si:02d}"
            if isinstance(text, str) and text.strip():
                sentences.append(Document(sid, text.strip(), title or None))
                sids.append(sid)
            else:
                empty_sentences += 1
                sids.append(None)
        for qa in para.get("qas", []):
            qid = str(qa["id"])
            if qid in para_qrels:
                raise InputFormatError(en_path, None, f"question id {qid!r} appears twice")
            para_qrels[qid] = pid
            answer = qa["answers"][0]
            start, text = int(answer["answer_start"]), str(answer["text"])
            if context[start:start + len(text)] != text:
                found = context.find(text)
                if found < 0:
                    raise InputFormatError(en_path, None, f"question {qid}: answer {text!r} not in its paragraph")
                start = found
                realigned += 1
            end = start + len(text)
            hit = [sids[i] for i, (b, e) in enumerate(breaks) if b < end and start < e and sids[i]]
            if not hit:
                raise InputFormatError(en_path, None, f"question {qid}: answer span overlaps no sentence")
            multi_sentence += len(hit) > 1
            sent_qrels[qid] = hit

    topics_out: dict[str, list[Query]] = {}
    per_lang: dict[str, dict[str, object]] = {}
    for lang in lang_list:
        dfile = xquad_file("ro") if lang == "ro" else xquad_r_file(lang)
        path = fetcher.get_optional(dfile, f"XQuAD{'' if lang == 'ro' else '-R'} {lang}")
        if path is None:
            continue
        questions = read_xquad_questions(path)
        ids = [q.qid for q in questions]
        if len(set(ids)) != len(ids):
            raise InputFormatError(path, None, "duplicate question ids")
        unknown = [q.qid for q in questions if q.qid not in para_qrels]
        if unknown:
            raise InputFormatError(path, None, f"{len(unknown)} question ids are not in the English file "
                                               f"(first: {unknown[0]})")
        misplaced = sum(1 for q in questions if para_qrels[q.qid] != f"xquad-p{q.paragraph:03d}")
        empty = [q for q in questions if not q.text]
        topics_out[lang] = [Query(f"{lang}-{q.qid}", q.text, lang) for q in questions if q.text]
        per_lang[lang] = {"questions": len(questions), "paragraphs": len({q.paragraph for q in questions}),
                          "dropped_empty_question": len(empty), "paragraph_order_differs": misplaced,
                          "source": dfile.url}

    with staged_output(out_dir) as tmp:
        outputs: dict[str, object] = {
            "corpora": {"paragraphs": {"path": "corpus/paragraphs/corpus.jsonl", "documents": len(paragraphs)},
                        "sentences": {"path": "corpus/sentences/corpus.jsonl", "documents": len(sentences)}},
            "topics": {}, "qrels": {}}
        write_corpus(tmp / "corpus/paragraphs/corpus.jsonl", paragraphs)
        write_corpus(tmp / "corpus/sentences/corpus.jsonl", sentences)
        for lang, queries in topics_out.items():
            rel = f"topics/xquad-r.{lang}.tsv"
            write_topics(tmp / rel, queries)
            outputs["topics"][lang] = {"path": rel, "queries": len(queries), "language": lang}
            pq = {q.qid: {para_qrels[q.qid.split("-", 1)[1]]: 1} for q in queries}
            sq = {q.qid: {sid: 1 for sid in sent_qrels[q.qid.split("-", 1)[1]]} for q in queries}
            for level, qrels, corpus in (("paragraph", pq, "paragraphs"), ("sentence", sq, "sentences")):
                rel = f"qrels/xquad-r.{lang}.{level}.qrels"
                write_qrels(tmp / rel, qrels)
                outputs["qrels"][f"{lang}.{level}"] = {
                    "path": rel, "judgements": sum(len(v) for v in qrels.values()),
                    "corpus": f"corpus/{corpus}/corpus.jsonl"}
        card = make_card(
            "xquad-r",
            description="XQuAD-R cross-lingual retrieval: XQuAD questions in 12 languages against the "
                        "English paragraphs (paragraph level) and English sentences (sentence level).",
            fetcher=fetcher, sources=[XQUAD_R, XQUAD], outputs=outputs,
            counts={"languages": list(topics_out), "english_paragraphs": len(paragraphs),
                    "english_sentences": len(sentences), "questions_per_language": per_lang,
                    "expected_questions": XQUAD_QUESTIONS, "expected_paragraphs": XQUAD_PARAGRAPHS,
                    "questions_with_two_relevant_sentences": multi_sentence},
            dropped={"empty_sentences": empty_sentences,
                     "empty_questions": sum(v["dropped_empty_question"] for v in per_lang.values()),
                     "answers_realigned_by_search": realigned},
            notes=["Relevance is defined on the English side and shared by all languages (XQuAD is "
                   "parallel with shared question ids).",
                   "Sentence relevance: every English sentence (XQuAD-R sentence_breaks) overlapping "
                   "the English answer span, as LAReQA defines it.",
                   "Romanian (ro) comes from XQuAD (deepmind/xquad xquad.ro.json): XQuAD-R has no ro.",
                   "This is monolingual-pool retrieval (English candidates only), not LAReQA's "
                   "multilingual pool."],
            options={"langs": lang_list, "skip_missing": skip_missing},
            extra={"synthetic_relevance": False},
        )
        write_card(tmp, card)
    return PreparedSet("xquad-r", Path(out_dir), card)
