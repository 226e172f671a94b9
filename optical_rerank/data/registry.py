"""Source registry: every upstream data file the toolkit uses, pinned by repository and commit.

A :class:`DataFile` is ``(repo, commit, path)``: the file ``path`` of the public GitHub repository
``repo`` at ``commit``, i.e. the raw URL
``https://raw.githubusercontent.com/<repo>/<commit>/<path>``. Its sha256 and size come from
:data:`._hashes.KNOWN_FILES` where the project knows them. A :class:`Source` groups the files of
one dataset with its licence and citation.

The registry knows the **upstream** layout of each source, not only what a local mirror holds:
a request for a language or split that upstream has but the mirror lacks still names the exact
URL (see :mod:`.fetch`), and a request for something upstream does not have is a
:class:`~optical_rerank.errors.ConfigError` saying so.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import ConfigError
from ._hashes import KNOWN_FILES
from .languages import (
    AFRIQA_LANGUAGES,
    CIRAL_LANGUAGES,
    NTREX_ADDITIONAL,
    NTREX_LANGUAGES,
    SIB200_LANGUAGES,
    TATOEBA_LANGUAGES,
    XQUAD_LANGUAGES,
    XQUAD_R_LANGUAGES,
)

RAW_URL = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class DataFile:
    """One upstream file, pinned: ``path`` of GitHub repository ``repo`` at ``commit``."""

    repo: str
    commit: str
    path: str

    @property
    def url(self) -> str:
        """The pinned raw URL (what cards and error messages name)."""
        return f"{RAW_URL}/{self.repo}/{self.commit}/{self.path}"

    @property
    def relpath(self) -> str:
        """``<owner>/<repo>/<commit>/<path>``: the file's place in a mirror or the cache."""
        return f"{self.repo}/{self.commit}/{self.path}"

    @property
    def sha256(self) -> str | None:
        """The known sha256, or ``None`` when the project has no hash for this file."""
        row = KNOWN_FILES.get((self.repo, self.commit, self.path))
        return row[1] if row else None

    @property
    def size(self) -> int | None:
        """The known size in bytes, or ``None``."""
        row = KNOWN_FILES.get((self.repo, self.commit, self.path))
        return row[0] if row else None


@dataclass(frozen=True)
class Source:
    """A dataset: where its files live (``repo`` at ``commit``), its licence and how to cite it."""

    name: str
    title: str
    repo: str
    commit: str
    licence: str
    citation: str
    homepage: str
    languages: str = ""
    counts: str = ""

    def file(self, path: str) -> DataFile:
        """The file ``path`` of this source's repository at its pinned commit."""
        return DataFile(self.repo, self.commit, path)


# --------------------------------------------------------------------------- sources
AFRIQA = Source(
    name="afriqa",
    title="AfriQA: cross-lingual open-retrieval QA for 10 African languages",
    repo="masakhane-io/afriqa", commit="5c29933753692c28773c34ac1f68482007f1d2bb",
    licence="CC BY 4.0",
    citation=("Ogundepo et al. (2023). AfriQA: Cross-lingual Open-Retrieval Question Answering for "
              "African Languages. Findings of EMNLP 2023. arXiv:2305.06897"),
    homepage="https://github.com/masakhane-io/afriqa",
    languages="bem fon hau ibo kin swa twi wol yor zul (pivot English; French for fon and wol)",
    counts="questions per split from the AfriQA README (see AFRIQA_SPLIT_COUNTS)",
)
XQUAD = Source(
    name="xquad",
    title="XQuAD: 240 SQuAD v1.1 dev paragraphs and 1,190 questions in 12 languages",
    repo="deepmind/xquad", commit="60cac411649156efb6aab9dd4c9cde787a2c0345",
    licence="CC BY-SA 4.0",
    citation=("Artetxe, Ruder and Yogatama (2020). On the Cross-lingual Transferability of Monolingual "
              "Representations. ACL 2020"),
    homepage="https://github.com/deepmind/xquad",
    languages=" ".join(XQUAD_LANGUAGES),
    counts="48 articles, 240 paragraphs, 1,190 questions per language",
)
XQUAD_R = Source(
    name="xquad-r",
    title="XQuAD-R (LAReQA): XQuAD with sentence breaks for answer-sentence retrieval",
    repo="google-research-datasets/lareqa", commit="9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c",
    licence="CC BY-SA 4.0",
    citation=("Roy, Constant, Al-Rfou, Barua, Phillips and Yang (2020). LAReQA: Language-agnostic answer "
              "retrieval from a multilingual pool. EMNLP 2020. arXiv:2004.05484"),
    homepage="https://github.com/google-research-datasets/lareqa",
    languages=" ".join(XQUAD_R_LANGUAGES),
    counts="1,190 questions and 240 paragraphs per language; candidate sentences in XQUAD_R_SENTENCES",
)
NTREX = Source(
    name="ntrex",
    title="NTREX-128: WMT19 English news test set (1,997 sentences, 123 documents) in 128 languages",
    repo="MicrosoftTranslator/NTREX", commit="8561f6a622db9edad1217683e5c83daefd8bb2bf",
    licence="CC BY-SA 4.0",
    citation=("Federmann, Kocmi and Xin (2022). NTREX-128 -- News Test References for MT Evaluation of "
              "128 Languages. SUMEval 2022; source text: Barrault et al. (2019), Findings of WMT19"),
    homepage="https://github.com/MicrosoftTranslator/NTREX",
    languages=f"{len(NTREX_LANGUAGES)} codes of LANGUAGES.tsv (gsw-BE and gsw-ZH in NTREX-additional/)",
    counts="1,997 line-aligned sentences, 123 documents (DOCUMENT_IDS.tsv)",
)
SIB200 = Source(
    name="sib200",
    title="SIB-200 (FLORES-200 sentences with topic labels), aligned across languages by index_id",
    repo="dadelani/sib-200", commit="593cea88519930f776c1a4a1980b6a35b39dca57",
    licence="FLORES-200 text CC BY-SA 4.0; SIB-200 code Apache-2.0",
    citation=("Adelani et al. (2024). SIB-200: A Simple, Inclusive, and Big Evaluation Dataset for Topic "
              "Classification in 200+ Languages and Dialects. EACL 2024; NLLB Team (2022). No Language "
              "Left Behind. arXiv:2207.04672"),
    homepage="https://github.com/dadelani/sib-200",
    languages=f"{len(SIB200_LANGUAGES)} FLORES-200 codes (<iso639-3>_<Script>)",
    counts="train 701, dev 99, test 204 sentences per language (1,004)",
)
TATOEBA = Source(
    name="tatoeba",
    title="Tatoeba test pairs of LASER (up to 1,000 sentences per language, with English)",
    repo="facebookresearch/LASER", commit="74bc6ae7ffb7cba670fe0f428d0ede9f666fb821",
    licence="CC BY 2.0 FR (Tatoeba); LASER code BSD",
    citation=("Artetxe and Schwenk (2019). Massively Multilingual Sentence Embeddings for Zero-Shot "
              "Cross-Lingual Transfer and Beyond. TACL 7. Data: tatoeba.org (2018-11-17)"),
    homepage="https://github.com/facebookresearch/LASER/tree/main/data/tatoeba/v1",
    languages=f"{len(TATOEBA_LANGUAGES)} codes (ISO 639-3, individual languages: swh, cmn, ...)",
    counts="up to 1,000 pairs per language",
)
CIRAL = Source(
    name="ciral",
    title="CIRAL topics (native and English) and qrels, as distributed with Anserini",
    repo="castorini/anserini-tools", commit="5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
    licence="see upstream (CIRAL dataset card on Hugging Face: CIRAL/ciral); anserini-tools Apache-2.0",
    citation=("Adeyemi, Oladipo, Alfonso-Hermelo, Rezagholizadeh and Lin (2024). CIRAL: A Test Collection "
              "for CLIR Evaluations in African Languages. SIGIR 2024 (CIRAL track at FIRE 2023)"),
    homepage="https://ciralproject.github.io/",
    languages="ha so sw yo",
    counts="topics: dev 10 (native only); test-a ha 80 so 99 sw 85 yo 100; test-b ha 312 so 239 sw 112 yo 554",
)
TREC_DL = Source(
    name="trec-dl",
    title="TREC Deep Learning passage topics and graded qrels (2019, 2020), as distributed with Anserini",
    repo="castorini/anserini-tools", commit="5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
    licence="TREC topics and qrels: NIST, research use; MS MARCO: non-commercial research use only",
    citation=("Craswell, Mitra, Yilmaz, Campos and Voorhees (2020). Overview of the TREC 2019 Deep "
              "Learning Track. arXiv:2003.07820; Craswell et al. (2021). Overview of the TREC 2020 Deep "
              "Learning Track. arXiv:2102.07662"),
    homepage="https://microsoft.github.io/msmarco/TREC-Deep-Learning",
    languages="en",
    counts="dl19: 43 judged topics, 9,260 qrels; dl20: 54 judged topics (200 in the topics file)",
)
RANK_LLM = Source(
    name="rank_llm",
    title="BM25 top-100 candidates with MS MARCO passage text for TREC DL (RankLLM)",
    repo="castorini/rank_llm", commit="916102c7de2f7348a64427b89300946657997098",
    licence=("Apache-2.0 (code); MS MARCO passage text: non-commercial research use only "
             "(https://microsoft.github.io/msmarco/)"),
    citation=("RankLLM (github.com/castorini/rank_llm); Pradeep, Sharifymoghaddam and Lin (2023). RankZephyr: "
              "Effective and Robust Zero-Shot Listwise Reranking is a Breeze! arXiv:2312.02724; MS MARCO: "
              "Bajaj et al. (2016). arXiv:1611.09268"),
    homepage="https://github.com/castorini/rank_llm",
    languages="en",
    counts="100 candidates per judged topic",
)
#: rank_llm's LICENSE is pinned at another commit (the candidates' commit predates it).
RANK_LLM_LICENSE = DataFile("castorini/rank_llm", "1b3cabbc3564441bdcda6c6a2e92137b9faa0660", "LICENSE")

#: TREC DL 2021 passage topics and qrels (MS MARCO v2): a *training* source (DL19/DL20 are evaluation only).
TREC_DL21 = Source(
    name="trec-dl21",
    title="TREC Deep Learning 2021 passage topics and graded qrels (MS MARCO v2), as distributed with Anserini",
    repo="castorini/anserini-tools", commit="5b819c1a45c8a0a3ec9426f476694f44a29dfaf3",
    licence="TREC topics and qrels: NIST, research use; MS MARCO: non-commercial research use only",
    citation=("Craswell, Mitra, Yilmaz, Campos and Lin (2022). Overview of the TREC 2021 Deep Learning "
              "Track. TREC 2021"),
    homepage="https://microsoft.github.io/msmarco/TREC-Deep-Learning",
    languages="en",
    counts="53 judged topics with BM25 top-100 candidates (text from RankLLM)",
)
RANK_LLM_DL21 = Source(
    name="rank_llm-dl21",
    title="BM25 top-100 candidates with MS MARCO v2 passage text for TREC DL21 (RankLLM)",
    repo="castorini/rank_llm", commit="d11fb9ce6a4766cbb16bd44c2ed7f5a78d67cba7",
    licence=RANK_LLM.licence, citation=RANK_LLM.citation, homepage=RANK_LLM.homepage,
    languages="en", counts="100 candidates per topic, 53 topics",
)
SQUAD = Source(
    name="squad",
    title="SQuAD 2.0 dev set: English questions over Wikipedia paragraphs",
    repo="chrischute/squad", commit="85623adeb9e6639f145081fea9cae2d8f3a26379",
    licence="SQuAD: CC BY-SA 4.0; repository: MIT",
    citation=("Rajpurkar, Jia and Liang (2018). Know What You Don't Know: Unanswerable Questions for "
              "SQuAD. ACL 2018"),
    homepage="https://rajpurkar.github.io/SQuAD-explorer/",
    languages="en", counts="6,078 questions over 646 paragraphs; 2,910 answerable",
)
SELQA = Source(
    name="selqa",
    title="SelQA answer-sentence selection (dev and test): English questions over Wikipedia sections",
    repo="emorynlp/selqa", commit="fef3d6ac6944e2d4237165d90e5f859c71676bdd",
    licence="Apache-2.0 (upstream statement)",
    citation=("Jurczyk, Zhai and Choi (2016). SelQA: A New Benchmark for Selection-based Question "
              "Answering. ICTAI 2016"),
    homepage="https://github.com/emorynlp/selqa",
    languages="en", counts="about 2,400 questions with labelled candidate sentences",
)
WIKIQA = Source(
    name="wikiqa",
    title="WikiQA train (tokenised, lowercased), as distributed by castorini/data",
    repo="castorini/data", commit="056cbbcbf997cc0b35032430110c5e5e5525700a",
    licence="Microsoft Research data licence (research use)",
    citation=("Yang, Yih and Meek (2015). WikiQA: A Challenge Dataset for Open-Domain Question "
              "Answering. EMNLP 2015"),
    homepage="https://www.microsoft.com/en-us/download/details.aspx?id=52419",
    languages="en", counts="873 questions, 1,040 positive and 7,632 negative sentences",
)
NQ_OPEN = Source(
    name="nq-open",
    title="NQ-open dev: English questions with answer strings (no passages)",
    repo="google-research-datasets/natural-questions", commit="fb26a3073b1fe636c97302890a27b491d6530130",
    licence="CC BY-SA 3.0",
    citation=("Kwiatkowski et al. (2019). Natural Questions: a Benchmark for Question Answering "
              "Research. TACL 7; Lee, Chang and Toutanova (2019). Latent Retrieval for Weakly "
              "Supervised Open Domain Question Answering. ACL 2019"),
    homepage="https://github.com/google-research-datasets/natural-questions/tree/master/nq_open",
    languages="en", counts="3,610 questions",
)

SOURCES: Mapping[str, Source] = MappingProxyType({s.name: s for s in (
    AFRIQA, XQUAD, XQUAD_R, NTREX, SIB200, TATOEBA, CIRAL, TREC_DL, RANK_LLM,
    TREC_DL21, RANK_LLM_DL21, SQUAD, SELQA, WIKIQA, NQ_OPEN)})


def get_source(name: str) -> Source:
    """The :class:`Source` called ``name``; :class:`ConfigError` listing the names otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ConfigError(f"unknown source {name!r}; known: {', '.join(SOURCES)}") from None


# --------------------------------------------------------------------------- AfriQA
AFRIQA_SPLITS = ("train", "dev", "test")
#: Questions per split as listed in the AfriQA README (train, dev, test).
AFRIQA_SPLIT_COUNTS: Mapping[str, Mapping[str, int]] = MappingProxyType({
    lang: MappingProxyType(dict(zip(AFRIQA_SPLITS, counts, strict=True))) for lang, counts in {
        "bem": (502, 503, 314), "fon": (427, 428, 386), "hau": (435, 436, 300),
        "ibo": (417, 418, 409), "kin": (407, 409, 347), "swa": (415, 417, 302),
        "twi": (451, 452, 490), "wol": (503, 504, 334), "yor": (360, 361, 332),
        "zul": (387, 388, 325),
    }.items()})
#: Splits with a gold-passage file upstream at the pinned commit. Swahili has gold passages for
#: test only, Yorùbá none for dev, Wolof none at all.
AFRIQA_GOLD_SPLITS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "bem": AFRIQA_SPLITS, "fon": AFRIQA_SPLITS, "hau": AFRIQA_SPLITS, "ibo": AFRIQA_SPLITS,
    "kin": AFRIQA_SPLITS, "swa": ("test",), "twi": AFRIQA_SPLITS, "wol": (),
    "yor": ("train", "test"), "zul": AFRIQA_SPLITS,
})


def _check_afriqa(lang: str, split: str) -> str:
    if lang not in AFRIQA_LANGUAGES:
        raise ConfigError(f"AfriQA has no language {lang!r}; it has {', '.join(AFRIQA_LANGUAGES)}")
    if split not in AFRIQA_SPLITS:
        raise ConfigError(f"AfriQA has no split {split!r}; it has {', '.join(AFRIQA_SPLITS)}")
    return AFRIQA_LANGUAGES[lang][1]


def afriqa_queries(lang: str, split: str) -> DataFile:
    """``data/queries/<lang>/queries.afriqa.<lang>.<pivot>.<split>.json`` (JSON lines)."""
    pivot = _check_afriqa(lang, split)
    return AFRIQA.file(f"data/queries/{lang}/queries.afriqa.{lang}.{pivot}.{split}.json")


def afriqa_has_gold(lang: str, split: str) -> bool:
    """Whether upstream has a gold-passage file for ``lang`` and ``split``."""
    _check_afriqa(lang, split)
    return split in AFRIQA_GOLD_SPLITS[lang]


def afriqa_gold(lang: str, split: str) -> DataFile:
    """``data/gold_passages/<lang>/gold_span_passages.afriqa.<lang>.<pivot>.<split>.json``.

    Raises :class:`ConfigError` when upstream has no gold passages for that language and split.
    """
    pivot = _check_afriqa(lang, split)
    if split not in AFRIQA_GOLD_SPLITS[lang]:
        have = ", ".join(AFRIQA_GOLD_SPLITS[lang]) or "none"
        raise ConfigError(f"AfriQA has no gold passages for {lang} {split} upstream "
                          f"(gold-passage splits for {lang}: {have})")
    return AFRIQA.file(f"data/gold_passages/{lang}/gold_span_passages.afriqa.{lang}.{pivot}.{split}.json")


# --------------------------------------------------------------------------- XQuAD, XQuAD-R
#: XQuAD-R candidate sentences per language (LAReQA README).
XQUAD_R_SENTENCES: Mapping[str, int] = MappingProxyType({
    "ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244, "ru": 1219, "th": 852,
    "tr": 1167, "vi": 1209, "zh": 1196})
XQUAD_QUESTIONS = 1190
XQUAD_PARAGRAPHS = 240


def xquad_file(lang: str) -> DataFile:
    """XQuAD ``xquad.<lang>.json`` (ISO 639-1 code)."""
    if lang not in XQUAD_LANGUAGES:
        raise ConfigError(f"XQuAD has no language {lang!r}; it has {', '.join(XQUAD_LANGUAGES)}")
    return XQUAD.file(f"xquad.{lang}.json")


def xquad_r_file(lang: str) -> DataFile:
    """XQuAD-R ``xquad-r/<lang>.json`` (ISO 639-1 code)."""
    if lang not in XQUAD_R_LANGUAGES:
        raise ConfigError(f"XQuAD-R has no language {lang!r}; it has {', '.join(XQUAD_R_LANGUAGES)} "
                          "(Romanian is in XQuAD only)")
    return XQUAD_R.file(f"xquad-r/{lang}.json")


# --------------------------------------------------------------------------- NTREX-128
NTREX_CODES = tuple(code for code, _ in NTREX_LANGUAGES)
NTREX_SENTENCES = 1997
NTREX_DOCUMENTS = 123


def ntrex_source_file() -> DataFile:
    """The English source ``NTREX-128/newstest2019-src.eng.txt``."""
    return NTREX.file("NTREX-128/newstest2019-src.eng.txt")


def ntrex_file(code: str) -> DataFile:
    """The human translation ``newstest2019-ref.<code>.txt`` (NTREX code, e.g. ``hau``, ``zho-CN``)."""
    if code not in NTREX_CODES:
        raise ConfigError(f"NTREX-128 has no language {code!r} (see LANGUAGES.tsv)")
    folder = "NTREX-additional" if code in NTREX_ADDITIONAL else "NTREX-128"
    return NTREX.file(f"{folder}/newstest2019-ref.{code}.txt")


def ntrex_document_ids() -> DataFile:
    """``DOCUMENT_IDS.tsv``: one document id per line, line-aligned with every text file."""
    return NTREX.file("DOCUMENT_IDS.tsv")


# --------------------------------------------------------------------------- SIB-200, Tatoeba
SIB200_SPLITS = ("train", "dev", "test")
SIB200_SPLIT_COUNTS: Mapping[str, int] = MappingProxyType({"train": 701, "dev": 99, "test": 204})


def sib200_file(code: str, split: str) -> DataFile:
    """``data/annotated/<code>/<split>.tsv`` (``index_id``, ``category``, ``text``)."""
    if code not in SIB200_LANGUAGES:
        raise ConfigError(f"SIB-200 has no language {code!r}")
    if split not in SIB200_SPLITS:
        raise ConfigError(f"SIB-200 has no split {split!r}; it has {', '.join(SIB200_SPLITS)}")
    return SIB200.file(f"data/annotated/{code}/{split}.tsv")


def tatoeba_files(code: str) -> tuple[DataFile, DataFile]:
    """``(tatoeba.<code>-eng.<code>, tatoeba.<code>-eng.eng)``, line-aligned."""
    if code not in TATOEBA_LANGUAGES:
        raise ConfigError(f"Tatoeba (LASER) has no language {code!r}")
    stem = f"data/tatoeba/v1/tatoeba.{code}-eng"
    return TATOEBA.file(f"{stem}.{code}"), TATOEBA.file(f"{stem}.eng")


# --------------------------------------------------------------------------- CIRAL
CIRAL_SETS = ("dev", "test-a", "test-b")
#: Sets with English topic translations upstream (dev has native topics only).
CIRAL_TRANSLATED_SETS = ("test-a", "test-b")


def ciral_topics(lang: str, set_name: str, native: bool) -> DataFile:
    """``topics/topics.ciral-v1.0-<lang>-<set>[-native].tsv`` (ISO 639-1 ``lang``)."""
    if lang not in CIRAL_LANGUAGES:
        raise ConfigError(f"CIRAL has no language {lang!r}; it has {', '.join(CIRAL_LANGUAGES)}")
    if set_name not in CIRAL_SETS:
        raise ConfigError(f"CIRAL has no set {set_name!r}; it has {', '.join(CIRAL_SETS)}")
    if not native and set_name not in CIRAL_TRANSLATED_SETS:
        raise ConfigError(f"CIRAL {set_name} has no English topics upstream (only native ones)")
    suffix = "-native" if native else ""
    return CIRAL.file(f"topics/topics.ciral-v1.0-{lang}-{set_name}{suffix}.tsv")


def ciral_qrels(lang: str, set_name: str) -> DataFile:
    """``qrels/qrels.ciral-v1.0-<lang>-<set>.tsv`` (``test-a-pools`` also accepted)."""
    if lang not in CIRAL_LANGUAGES:
        raise ConfigError(f"CIRAL has no language {lang!r}; it has {', '.join(CIRAL_LANGUAGES)}")
    if set_name not in CIRAL_SETS + ("test-a-pools",):
        raise ConfigError(f"CIRAL has no qrels {set_name!r}")
    return CIRAL.file(f"qrels/qrels.ciral-v1.0-{lang}-{set_name}.tsv")


# --------------------------------------------------------------------------- TREC DL
TREC_DL_YEARS: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "dl19": MappingProxyType({"topics": "topics/topics.dl19-passage.txt",
                              "qrels": "qrels/qrels.dl19-passage.txt"}),
    "dl20": MappingProxyType({"topics": "topics/topics.dl20.txt",
                              "qrels": "qrels/qrels.dl20-passage.txt"}),
})


def trec_dl_files(name: str) -> dict[str, DataFile]:
    """``{"topics", "qrels", "run", "candidates"}`` files of ``dl19`` or ``dl20``."""
    if name not in TREC_DL_YEARS:
        raise ConfigError(f"unknown TREC DL set {name!r}; known: {', '.join(TREC_DL_YEARS)}")
    paths = TREC_DL_YEARS[name]
    return {
        "topics": TREC_DL.file(paths["topics"]),
        "qrels": TREC_DL.file(paths["qrels"]),
        "run": RANK_LLM.file(f"retrieve_results/BM25/trec_results_{name}.txt"),
        "candidates": RANK_LLM.file(f"retrieve_results/BM25/retrieve_results_{name}.json"),
    }


# --------------------------------------------------------------------------- enumeration
def source_files(name: str) -> list[DataFile]:
    """Every upstream file of source ``name`` that the toolkit can use (for ``list``)."""
    src = get_source(name)
    if name == "afriqa":
        files = [src.file("README.md"), src.file("LICENSE")]
        for lang in AFRIQA_LANGUAGES:
            files += [afriqa_queries(lang, s) for s in AFRIQA_SPLITS]
            files += [afriqa_gold(lang, s) for s in AFRIQA_GOLD_SPLITS[lang]]
        return files
    if name == "xquad":
        return [src.file("README.md"), src.file("CC-BY-SA4.0.txt")] + [xquad_file(x) for x in XQUAD_LANGUAGES]
    if name == "xquad-r":
        return [src.file("README.md"), src.file("LICENSE")] + [xquad_r_file(x) for x in XQUAD_R_LANGUAGES]
    if name == "ntrex":
        return ([src.file(p) for p in ("README.md", "LICENSE.md", "LANGUAGES.tsv", "DOCUMENT_IDS.tsv")]
                + [ntrex_source_file()] + [ntrex_file(c) for c in NTREX_CODES])
    if name == "sib200":
        return [src.file("README.md"), src.file("LICENSE")] + [
            sib200_file(c, s) for c in SIB200_LANGUAGES for s in SIB200_SPLITS]
    if name == "tatoeba":
        return [src.file("LICENSE"), src.file("data/tatoeba/v1/README.md")] + [
            f for c in TATOEBA_LANGUAGES for f in tatoeba_files(c)]
    if name == "ciral":
        files = [src.file("README.md")]
        for lang in CIRAL_LANGUAGES:
            files += [ciral_topics(lang, s, True) for s in CIRAL_SETS]
            files += [ciral_topics(lang, s, False) for s in CIRAL_TRANSLATED_SETS]
            files += [ciral_qrels(lang, s) for s in CIRAL_SETS + ("test-a-pools",)]
        return files
    if name == "trec-dl":
        return [TREC_DL.file(p) for paths in TREC_DL_YEARS.values() for p in paths.values()]
    if name == "rank_llm":
        return [RANK_LLM_LICENSE] + [f for y in TREC_DL_YEARS for k, f in trec_dl_files(y).items()
                                     if k in ("run", "candidates")]
    if name in ENGLISH_QA_FILES:
        return list(ENGLISH_QA_FILES[name].values())
    raise ConfigError(f"unknown source {name!r}")  # pragma: no cover - get_source raised already


#: The English training sources' files, by source name (see :mod:`.english_qa`).
ENGLISH_QA_FILES: Mapping[str, Mapping[str, DataFile]] = MappingProxyType({
    "trec-dl21": MappingProxyType({"topics": TREC_DL21.file("topics/topics.dl21.txt"),
                                   "qrels": TREC_DL21.file("qrels/qrels.dl21-passage.txt")}),
    "rank_llm-dl21": MappingProxyType({
        "candidates": RANK_LLM_DL21.file("retrieve_results/BM25/retrieve_results_dl21.json")}),
    "squad": MappingProxyType({"dev": SQUAD.file("data/dev-v2.0.json"), "licence": SQUAD.file("LICENSE")}),
    "selqa": MappingProxyType({"dev": SELQA.file("ass/selqa-ass-dev.json"),
                               "test": SELQA.file("ass/selqa-ass-test.json"), "readme": SELQA.file("README.md")}),
    "wikiqa": MappingProxyType({k: WIKIQA.file(f"WikiQA/train/{k}") for k in
                                ("a.toks", "b.toks", "sim.txt", "id.txt")}),
    "nq-open": MappingProxyType({"dev": NQ_OPEN.file("nq_open/NQ-open.dev.jsonl"),
                                 "readme": NQ_OPEN.file("nq_open/README.md"), "licence": NQ_OPEN.file("LICENSE")}),
})
