"""Command line: ``python -m qa ask "问题"``, ``python -m qa build``, ``python -m qa eval DATA``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .config import Settings


def settings(args) -> Settings:
    """The environment's settings with the command line's options over them."""
    return Settings.from_env().with_(seeds=args.seeds, index=args.index, model=args.model, store=args.store)


def cmd_ask(args) -> int:
    from .engine import QA

    s = settings(args)
    engine = QA.open(s.article_source(), s.index, settings=s)
    answer = engine.ask(" ".join(args.question), k=args.k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
    else:
        from .render import plain

        print(plain(answer))
    return 0


def cmd_build(args) -> int:
    from .engine import QA

    s = settings(args)
    ingest = None
    if args.ray:
        from .ray_ingest import RayIngest

        ingest = RayIngest(s.ray_address, batch_size=args.batch_size, workers=args.workers)
    try:
        engine = QA.build(s.seeds_dir(), s.index, force=args.force, settings=s, ingest=ingest)
    finally:
        if ingest is not None:
            ingest.close()
    m = engine.store.manifest
    print(
        f"indexed {len(engine.store.documents)} articles, {m['n_chunks']} chunks with {m['model']['name']} "
        f"({m['reembedded_chunks']} embedded) into {s.index}"
    )
    return 0


def cmd_eval(args) -> int:
    from .eval.harness import main as eval_main

    return eval_main(args, settings(args))


def parser() -> argparse.ArgumentParser:
    def common(p: argparse.ArgumentParser, defaults: bool) -> None:
        """The shared options, accepted before and after the subcommand (after wins)."""
        d = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
        p.add_argument(
            "--seeds",
            type=Path,
            default=d(None),
            help="folder of articles (default: $QA_SEEDS; for ask, the index's own articles; else seeds/)",
        )
        p.add_argument("--index", type=Path, default=d(None), help="index folder (default: $QA_INDEX, else index/)")
        p.add_argument(
            "--model",
            default=d(None),
            help="embedding model: preset, folder or hub id (default: $QA_MODEL, an index's own model, else e5-small)",
        )
        p.add_argument(
            "--store",
            default=d(None),
            help="where chunks are searched: local, milvus:./milvus.db (Milvus Lite) or milvus://host:19530 "
            "(default: $QA_STORE, the index's own, else local)",
        )
        p.add_argument("-v", "--verbose", action="store_true", default=d(False), help="log progress")

    ap = argparse.ArgumentParser(prog="python -m qa", description="Cited extractive QA over Chinese articles.")
    common(ap, True)
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("ask", help="answer a question")
    common(a, False)
    a.add_argument("question", nargs="+")
    a.add_argument("-k", type=int, default=5, help="passages to retrieve (default 5)")
    a.add_argument("--json", action="store_true", help="print the full answer object as JSON")
    a.set_defaults(func=cmd_ask)
    b = sub.add_parser("build", help="(re)build the index from the articles")
    common(b, False)
    b.add_argument("--force", action="store_true", help="replace an index that was built from other articles")
    b.add_argument(
        "--ray", action="store_true", help="read, chunk and embed with Ray Data ($RAY_ADDRESS, else a local cluster)"
    )
    b.add_argument("--batch-size", type=int, default=256, help="--ray: chunks per embedding batch (default 256)")
    b.add_argument(
        "--workers", type=int, default=None, help="--ray: embedding workers (default: one per CPU of the cluster)"
    )
    b.set_defaults(func=cmd_build)
    e = sub.add_parser("eval", help="evaluate on a SQuAD-format JSON or a seed-style JSONL file")
    common(e, False)
    e.add_argument("data", type=Path)
    e.add_argument("--retriever", choices=["hybrid", "dense", "lexical"], default="hybrid")
    e.add_argument("-k", "--k", type=int, default=5, dest="k")
    e.add_argument("--limit", type=int, default=None, help="at most this many questions")
    e.add_argument(
        "--split", choices=["all", "train", "validation", "heldout"], default="all", help="SQuAD files: which articles"
    )
    e.add_argument(
        "--contexts",
        type=Path,
        default=None,
        help="SQuAD file whose paragraphs (and gold answers, by question id) to use, "
        "e.g. xquad.zh.json for xquad.en.json questions",
    )
    e.add_argument(
        "--drop-gold",
        action="store_true",
        help="SQuAD files: also ask each question with its gold paragraph removed "
        "and report abstention precision/recall",
    )
    e.add_argument("--predictions-out", type=Path, default=None)
    e.add_argument("--report", type=Path, default=None)
    e.set_defaults(func=cmd_eval)
    return ap


def main(argv: list[str] | None = None) -> int:
    return dispatch(parser().parse_args(argv))


def dispatch(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from .articles import ArticleError
    from .embedding import ModelError
    from .index import IndexCorrupt
    from .milvus import StoreError

    try:
        return args.func(args)
    except (ArticleError, ModelError, IndexCorrupt, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad input, e.g. an empty question
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """The console entry point. A one-off ``ask`` leaves without the interpreter's teardown (freeing the
    loaded models took about 0.8 s, after the answer was printed); other commands exit normally."""
    args = parser().parse_args()
    code = dispatch(args)
    if args.command == "ask":
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
