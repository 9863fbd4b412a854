"""python -m aftersale.docgen [--check] [--docs DIR]: rewrite (or check) docs/'s blocks."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aftersale.docgen import DOCS, DocsError, rewrite, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aftersale.docgen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say what is out of date")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder")
    args = parser.parse_args(argv)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    try:
        paths = stale(args.docs) if args.check else rewrite(args.docs)
    except DocsError as wrong:
        print(f"error: {wrong}", file=sys.stderr)
        return 2
    shown = [str(path.relative_to(args.docs.parent)) for path in paths]
    if args.check:
        if shown:
            print("out of date: " + ", ".join(shown) + " (run python -m aftersale.docgen)")
        return 1 if shown else 0
    print("rewritten: " + ", ".join(shown) if shown else "docs/ already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
