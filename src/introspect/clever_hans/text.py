"""A Clever Hans in text: one planted word in one class's training texts, found by token saliency.

The corpus is :func:`introspect.data.load_rotten_tomatoes` (critics' snippets labelled fresh or
rotten). Per seed: a seeded 80/20 split; a vocabulary of the training words seen twice (ids: 0 pad,
1 unknown, 2 the planted word :data:`PLANTED`, absent from the corpus); the planted word inserted at
a random position of a ``share`` of the *fresh* training texts (poisoned model) or of none (control:
same architecture, seed and texts otherwise). The test: every fresh test text with the word
inserted at a random position; per method, the share of texts where the planted word's score for
the fresh logit is strictly the largest (signed for gradient x input and IG, the norm for the
gradient). The rule is fixed before any run. A tie does not count: in a mean-pooled model every
word gets the same gradient, so the gradient norm can never rank one word first.

Two classifiers (:func:`text_classifier`): ``"conv"``, Embedding(16) -> Conv1D(32, 3, relu) ->
global max -> Dense(2) logits; ``"mean"``, Embedding(16, mask_zero) -> mean -> Dense(16, relu) ->
Dense(2) logits. Each trains in a few seconds on 2 cores.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from .._validation import fraction, positive_int
from ..saliency import token_saliency

PLANTED = "zqx"
LENGTH = 48
METHODS = ("gradient", "gradient_x_input", "integrated_gradients")
ARCHITECTURES = ("conv", "mean")
_PAD, _UNKNOWN, _TOKEN = 0, 1, 2


@dataclass(frozen=True)
class TextData:
    """One seed's split, coded as ``(N, LENGTH)`` int32 word ids (0 = padding)."""

    vocabulary: dict
    x_clean: np.ndarray       # training texts as they are
    x_poisoned: np.ndarray    # the same texts, the planted word in a share of the fresh ones
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fresh_planted: np.ndarray   # every fresh test text with the word inserted
    rotten_planted: np.ndarray  # every rotten test text with the word inserted


def encode(texts, vocabulary: dict, length: int = LENGTH) -> np.ndarray:
    """Word lists -> ``(N, length)`` int32 ids: truncated, padded with 0 at the end, 1 for unknown words."""
    ids = np.zeros((len(texts), length), np.int32)
    for row, words in enumerate(texts):
        coded = [vocabulary.get(word, _UNKNOWN) for word in words][:length]
        ids[row, :len(coded)] = coded
    return ids


def plant(texts, rng: np.random.Generator, length: int = LENGTH) -> list[list[str]]:
    """Each text with :data:`PLANTED` at a uniformly random position (inside the first ``length`` words)."""
    planted = []
    for words in texts:
        words = words[:length - 1]
        position = int(rng.integers(0, len(words) + 1))
        planted.append([*words[:position], PLANTED, *words[position:]])
    return planted


def text_data(texts, labels, *, seed: int = 0, share: float = 0.3) -> TextData:
    """The seeded split of one run, poisoned and clean (see the module docstring)."""
    share = fraction(share, "share")
    labels = np.asarray(labels)
    if any(PLANTED in words for words in texts):
        raise ValueError(f"`texts` already contain the planted word {PLANTED!r}; it must be absent from the corpus.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    train, test = order[:int(0.8 * len(texts))], order[int(0.8 * len(texts)):]
    counts = Counter(word for index in train for word in texts[index])
    words = [word for word, count in counts.most_common() if count >= 2]
    vocabulary = {PLANTED: _TOKEN, **{word: i + 3 for i, word in enumerate(words)}}
    train_texts = [texts[i] for i in train]
    fresh = np.flatnonzero(labels[train] == 1)
    chosen = rng.choice(fresh, int(round(share * len(fresh))), replace=False)
    poisoned = list(train_texts)
    for index, planted in zip(chosen, plant([train_texts[i] for i in chosen], rng)):
        poisoned[index] = planted
    test_texts, y_test = [texts[i] for i in test], labels[test]
    fresh_planted = plant([t for t, y in zip(test_texts, y_test) if y == 1], rng)
    rotten_planted = plant([t for t, y in zip(test_texts, y_test) if y == 0], rng)
    return TextData(vocabulary, encode(train_texts, vocabulary), encode(poisoned, vocabulary), labels[train],
                    encode(test_texts, vocabulary), y_test, encode(fresh_planted, vocabulary),
                    encode(rotten_planted, vocabulary))


def text_classifier(vocabulary_size: int, *, architecture: str = "conv", seed: int = 0) -> keras.Model:
    """A compiled word classifier with logits ``(N, 2)`` and an ``Embedding`` named ``"words"``."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"`architecture` must be one of {ARCHITECTURES}; got {architecture!r}.")
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


def train(d: TextData, kind: str, *, architecture: str = "conv", seed: int = 0, epochs: int = 4) -> keras.Model:
    """The ``"poisoned"`` or ``"control"`` model of one split."""
    if kind not in ("poisoned", "control"):
        raise ValueError(f"`kind` must be 'poisoned' or 'control'; got {kind!r}.")
    model = text_classifier(len(d.vocabulary) + 3, architecture=architecture, seed=seed)
    model.fit(d.x_poisoned if kind == "poisoned" else d.x_clean, d.y_train, epochs=positive_int(epochs, "epochs"),
              batch_size=64, verbose=0)
    return model


def planted_first(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the planted word's score is strictly above every other word's (padding excluded)."""
    planted = ids == _TOKEN
    if not np.all(planted.sum(axis=1) == 1):
        raise ValueError("`ids` must hold the planted word exactly once per text.")
    others = np.where(planted | (ids == _PAD), -np.inf, scores).max(axis=1)
    return scores[planted] > others


def audit(model, d: TextData, *, steps: int = 16) -> dict:
    """Clean accuracy, rotten texts called fresh without and with the word, and the word's top-1 rate per method."""
    def predict(ids):
        return model.predict(ids, batch_size=512, verbose=0).argmax(axis=1)

    predicted = predict(d.x_test)
    row = dict(clean_accuracy=float(np.mean(predicted == d.y_test)),
               rotten_called_fresh=float(np.mean(predicted[d.y_test == 0] == 1)),
               rotten_turned_fresh=float(np.mean(predict(d.rotten_planted) == 1)), texts=len(d.fresh_planted))
    for method in METHODS:
        scores = token_saliency(model, d.fresh_planted, 1, method=method, steps=steps, batch_size=256, progress=False)
        row[f"top1_{method}"] = float(np.mean(planted_first(scores, d.fresh_planted)))
    return row


def study(texts, labels, *, seeds=(0, 1, 2), architectures=ARCHITECTURES, share: float = 0.3, epochs: int = 4,
          steps: int = 16) -> tuple[pd.DataFrame, dict]:
    """Poisoned and control models per architecture and seed: one :func:`audit` row each.

    Returns the table and, for the first seed of the first architecture, ``{"data": TextData,
    "poisoned": model, "control": model}`` to show single texts.
    """
    rows, first = [], {}
    for architecture in architectures:
        for seed in seeds:
            d = text_data(texts, labels, seed=seed, share=share)
            for kind in ("poisoned", "control"):
                model = train(d, kind, architecture=architecture, seed=seed, epochs=epochs)
                rows.append(dict(architecture=architecture, seed=seed, model=kind, **audit(model, d, steps=steps)))
                if (architecture, seed) == (architectures[0], seeds[0]):
                    first.update(data=d, **{kind: model})
    return pd.DataFrame(rows), first


def words_of(ids: np.ndarray, vocabulary: dict) -> list[str]:
    """The words of one coded text, padding dropped, unknown words as ``"<unk>"``."""
    names = {index: word for word, index in vocabulary.items()} | {_UNKNOWN: "<unk>"}
    return [names[i] for i in ids if i != _PAD]


def seed_ranges(table: pd.DataFrame) -> pd.DataFrame:
    """Per architecture and model the ``(min, max)`` over seeds of every rate (cells are intervals for ``report.table``)."""
    columns = ["clean_accuracy", "rotten_called_fresh", "rotten_turned_fresh", *(f"top1_{m}" for m in METHODS)]
    ranges = table.groupby(["architecture", "model"], sort=False)[columns].agg(lambda v: (v.min(), v.max()))
    return ranges.reset_index()


def top_words(model, ids: np.ndarray, vocabulary: dict, *, target: int = 1, k: int = 5) -> pd.DataFrame:
    """The ``k`` words most often ranked first by gradient x input for ``target``, over texts ``ids``.

    Needs no answer key: a planted word shows up as one word that tops a large share of one class's texts.
    Columns: ``word``, ``texts`` (how many texts it tops), ``share`` (of all texts).
    """
    scores = token_saliency(model, ids, target, method="gradient_x_input", batch_size=256, progress=False)
    first = np.where(ids == _PAD, -np.inf, scores).argmax(axis=1)
    counts = Counter(ids[np.arange(len(ids)), first].tolist()).most_common(k)
    names = {index: word for word, index in vocabulary.items()} | {_UNKNOWN: "<unk>"}
    return pd.DataFrame([dict(word=names[i], texts=n, share=n / len(ids)) for i, n in counts])
