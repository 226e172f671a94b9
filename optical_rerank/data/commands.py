"""Command line of :mod:`optical_rerank.data` (``python -m optical_rerank.data ...``).

Commands
--------
``list [--source NAME] [--files] [--json]``
    Sources, their languages, split counts, licences, citations, and which files are present in
    the configured mirror (``$OPTICAL_RERANK_MIRROR``) or the cache.
``prepare NAME --out DIR [options]``
    Build a set: ``afriqa``, ``xquad-r``, ``ntrex-doc``, ``dl19``, ``dl20``, ``bitext`` or
    ``english-qa`` (see :mod:`.prepare` and each builder's module for the layout).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ..errors import ConfigError
from ..paths import cache_dir, mirror_dir
from .english_qa import ENGLISH_QA_SOURCES
from .fetch import MissingDataError, file_status, offline
from .languages import AFRIQA_LANGUAGES, resolve_language, upstream_codes
from .prepare import SET_NAMES, prepare
from .registry import (
    AFRIQA_GOLD_SPLITS,
    AFRIQA_SPLIT_COUNTS,
    AFRIQA_SPLITS,
    CIRAL_SETS,
    CIRAL_TRANSLATED_SETS,
    SIB200_SPLITS,
    SOURCES,
    TREC_DL_YEARS,
    DataFile,
    afriqa_gold,
    afriqa_queries,
    ciral_qrels,
    ciral_topics,
    get_source,
    ntrex_file,
    sib200_file,
    source_files,
    tatoeba_files,
    trec_dl_files,
    xquad_file,
    xquad_r_file,
)

_LANG_SOURCE = {"afriqa": "afriqa", "xquad": "xquad", "xquad-r": "xquad-r", "ntrex": "ntrex",
                "sib200": "sib200", "tatoeba": "tatoeba", "ciral": "ciral"}


def language_files(source: str, code: str) -> list[DataFile]:
    """The upstream files that hold language ``code`` (the source's own code) of ``source``."""
    if source == "afriqa":
        return ([afriqa_queries(code, s) for s in AFRIQA_SPLITS]
                + [afriqa_gold(code, s) for s in AFRIQA_GOLD_SPLITS[code]])
    if source == "xquad":
        return [xquad_file(code)]
    if source == "xquad-r":
        return [xquad_r_file(code)]
    if source == "ntrex":
        return [ntrex_file(code)]
    if source == "sib200":
        return [sib200_file(code, s) for s in SIB200_SPLITS]
    if source == "tatoeba":
        return list(tatoeba_files(code))
    if source == "ciral":
        return ([ciral_topics(code, s, True) for s in CIRAL_SETS]
                + [ciral_topics(code, s, False) for s in CIRAL_TRANSLATED_SETS]
                + [ciral_qrels(code, s) for s in CIRAL_SETS])
    if source in ("trec-dl", "rank_llm"):
        return [f for f in trec_dl_files(code).values() if f.repo == get_source(source).repo]
    raise ConfigError(f"unknown source {source!r}")


def _source_codes(source: str) -> list[str]:
    if source in _LANG_SOURCE:
        return list(upstream_codes()[_LANG_SOURCE[source]])
    if source in ("trec-dl", "rank_llm"):
        return list(TREC_DL_YEARS)
    return []  # the English teacher-training sources (trec-dl21, squad, ...): files without languages


def describe_sources(names: Sequence[str] | None = None, with_files: bool = False) -> list[dict]:
    """The data behind ``list``: one dict per source."""
    out = []
    for name in names or list(SOURCES):
        src = get_source(name)
        files = source_files(name)
        status = {f.relpath: file_status(f) for f in files}
        codes = _source_codes(name)
        complete = [c for c in codes if all(status.get(f.relpath, file_status(f)) != "missing"
                                            for f in language_files(name, c))]
        entry: dict[str, object] = {
            "name": name, "title": src.title, "repo": src.repo, "commit": src.commit,
            "licence": src.licence, "citation": src.citation, "homepage": src.homepage,
            "languages": codes, "languages_note": src.languages, "counts": src.counts,
            "files_known": len(files),
            "files_in_mirror": sum(1 for s in status.values() if s == "mirror"),
            "files_in_cache": sum(1 for s in status.values() if s == "cache"),
            "files_with_known_sha256": sum(1 for f in files if f.sha256),
            "languages_available": complete,
        }
        if name == "afriqa":
            entry["split_counts"] = {lang: {**AFRIQA_SPLIT_COUNTS[lang],
                                            "gold_passage_splits": list(AFRIQA_GOLD_SPLITS[lang]),
                                            "pivot": AFRIQA_LANGUAGES[lang][1]} for lang in AFRIQA_LANGUAGES}
        if with_files:
            entry["files"] = [{"url": f.url, "status": status[f.relpath], "sha256": f.sha256} for f in files]
        out.append(entry)
    return out


def _print_sources(entries: list[dict], with_files: bool) -> None:
    mirror = mirror_dir()
    print(f"mirror: {mirror if mirror else '(not set: $OPTICAL_RERANK_MIRROR)'}")
    print(f"cache:  {cache_dir() / 'data'}")
    print(f"downloads: {'disabled ($OPTICAL_RERANK_OFFLINE)' if offline() else 'enabled'}")
    for e in entries:
        print()
        print(f"{e['name']}: {e['title']}")
        print(f"  repo     {e['repo']} @ {e['commit']}")
        print(f"  licence  {e['licence']}")
        print(f"  cite     {e['citation']}")
        print(f"  counts   {e['counts']}")
        langs = e["languages"]
        label = "sets" if e["name"] in ("trec-dl", "rank_llm") else "languages"
        print(f"  {label} ({len(langs)}): {' '.join(langs)}")
        avail = e["languages_available"]
        print(f"  available locally ({len(avail)}): {' '.join(avail) if avail else '-'}")
        print(f"  files    {e['files_known']} upstream, {e['files_in_mirror']} in mirror, "
              f"{e['files_in_cache']} in cache, {e['files_with_known_sha256']} with a pinned sha256")
        if "split_counts" in e:
            print("  questions per split (AfriQA README); gold-passage splits upstream:")
            for lang, c in e["split_counts"].items():
                gold = ",".join(c["gold_passage_splits"]) or "none"
                print(f"    {lang} ({c['pivot']})  train {c['train']:>4}  dev {c['dev']:>4}  "
                      f"test {c['test']:>4}  gold: {gold}")
        if with_files:
            for f in e["files"]:
                print(f"    {f['status']:<8} {f['url']}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m optical_rerank.data",
        description="Pinned data sources: list them, and prepare Pyserini-ready sets and bitext.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="sources, languages, split counts, licences, local availability")
    p_list.add_argument("--source", action="append", choices=list(SOURCES),
                        help="only this source (repeatable)")
    p_list.add_argument("--files", action="store_true", help="list every upstream file with its status")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")

    p_prep = sub.add_parser("prepare", help="build a set into --out")
    p_prep.add_argument("name", choices=SET_NAMES)
    p_prep.add_argument("--out", required=True, help="output directory (new, empty, or a previous set)")
    p_prep.add_argument("--langs", help="comma-separated languages (afriqa, xquad-r, ntrex-doc; default all)")
    p_prep.add_argument("--splits", help="AfriQA splits (default train,dev,test)")
    p_prep.add_argument("--lang", help="bitext: the language (ISO 639-3, e.g. hau, swa, yor)")
    p_prep.add_argument("--sources", help="bitext: comma-separated subset of afriqa,ciral,ntrex,flores,tatoeba; "
                                          f"english-qa: of {','.join(ENGLISH_QA_SOURCES)} (default all)")
    p_prep.add_argument("--exclude-topics", nargs="+", default=[], metavar="TOPICS",
                        help="bitext: evaluation topics files (qid<TAB>text) whose queries are removed")
    p_prep.add_argument("--afriqa-splits", help="bitext: AfriQA splits used as pairs (default train; test never)")
    p_prep.add_argument("--ciral-sets", help="bitext: CIRAL sets used as pairs (default test-a,test-b)")
    p_prep.add_argument("--skip-missing", action="store_true",
                        help="skip (and report in the card) upstream files that are not available "
                             "offline, instead of failing")
    return parser


_SET_OPTIONS = {
    "afriqa": {"langs", "splits"},
    "xquad-r": {"langs"},
    "ntrex-doc": {"langs"},
    "dl19": set(),
    "dl20": set(),
    "bitext": {"lang", "sources", "exclude_topics", "afriqa_splits", "ciral_sets"},
    "english-qa": {"sources"},
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "list":
        entries = describe_sources(args.source, with_files=args.files)
        if args.json:
            json.dump({"mirror": str(mirror_dir()) if mirror_dir() else None, "sources": entries},
                      sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            _print_sources(entries, args.files)
        return 0

    given = {k: getattr(args, k) for k in ("langs", "splits", "lang", "sources", "afriqa_splits", "ciral_sets")
             if getattr(args, k) is not None}
    if args.exclude_topics:
        given["exclude_topics"] = args.exclude_topics
    allowed = _SET_OPTIONS[args.name]
    wrong = sorted(set(given) - allowed)
    if wrong:
        flags = ", ".join("--" + w.replace("_", "-") for w in wrong)
        raise ConfigError(f"{flags} do(es) not apply to prepare {args.name}")
    if args.name == "bitext":
        if "lang" not in given:
            raise ConfigError("prepare bitext needs --lang (e.g. --lang hau)")
        resolve_language(given["lang"])
    try:
        result = prepare(args.name, args.out, skip_missing=args.skip_missing, **given)
    except MissingDataError as exc:
        if args.skip_missing:
            raise
        raise MissingDataError(exc.file, f"{exc} (--skip-missing builds without unavailable files and "
                                         "lists them in the card)") from None
    card = result.card
    outputs = card.get("outputs", {})
    print(f"{args.name}: wrote {result.out_dir}")
    for kind in ("corpora", "topics", "qrels", "runs", "bitext"):
        block = outputs.get(kind)
        if block:
            if kind == "bitext":
                print(f"  bitext: {block['path']} ({block['pairs']} pairs)")
            else:
                print(f"  {kind}: {len(block)} file(s)")
    if card.get("dropped"):
        print(f"  dropped: {json.dumps(card['dropped'], sort_keys=True)}")
    if card.get("skipped_missing"):
        print(f"  skipped {len(card['skipped_missing'])} unavailable file(s) (see card.json)", file=sys.stderr)
    return 0
