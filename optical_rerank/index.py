"""``python -m optical_rerank.index``: build a Lucene index from a JsonCollection through Pyserini."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from .cli import run_cli
from .errors import ConfigError
from .guard import check_output_dir, refuse_inputs_inside
from .first_stage import (_corpus_files, analyzer_for, build_index, is_complete_index, is_lucene_index,
                          load_index_config, supported_languages)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m optical_rerank.index",
        description="Build a Lucene index (positions, doc vectors, raw text) from a JsonCollection "
                    '({"id","contents"} JSONL file or a directory of them) with a language analyzer.')
    p.add_argument("--input", required=True, help="JSONL file or directory of JSONL files")
    p.add_argument("--index", required=True, help="output index directory")
    p.add_argument("--language", default="en",
                   help="analyzer language (ISO 639-1/639-3). Languages without a Lucene analyzer use the "
                        "fallback: standard tokenizer, lowercase, no stemming. Supported: "
                        + " ".join(supported_languages()))
    p.add_argument("--threads", type=int, default=2, help="indexing threads")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    choice = analyzer_for(args.language)  # clear error before any Java work
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    check_output_dir(args.index, "--index")
    refuse_inputs_inside(args.index, "--index", {"--input": args.input})
    existing = None
    if not args.overwrite and is_complete_index(args.index):
        existing = load_index_config(args.index)
        asked = [str(f.resolve()) for f in _corpus_files(args.input)]
        if asked != existing.corpus:
            raise ConfigError(f"{args.index} is an existing index built from {', '.join(existing.corpus)}, not "
                              f"{', '.join(asked)}; pass --overwrite to rebuild it, or choose another --index")
    elif not args.overwrite and is_lucene_index(args.index):
        raise ConfigError(f"{args.index} is an existing Lucene index not built by optical_rerank (Pyserini or "
                          "Anserini?); search it as it is with python -m optical_rerank.run --index "
                          f"{args.index} --language LANG, or pass --overwrite to replace it")
    print(f"index: language {choice.code} -> {choice.description}", file=sys.stderr)
    cfg = build_index(args.input, args.index, choice.code, threads=args.threads, overwrite=args.overwrite)
    if existing is not None:
        print(f"index: {args.index} already holds this index (same input and language); kept it "
              "(pass --overwrite to rebuild)", file=sys.stderr)
    print(json.dumps(asdict(cfg), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
