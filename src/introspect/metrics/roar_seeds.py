"""ROAR over several seeds with label-independent masks (Hooker et al., arXiv:1806.10758), and its leak test.

:func:`roar_runs` ranks pixels by each method's map of the **predicted** class of the model
being explained (so the removed set is not chosen with the label), computes every map once, and
retrains one fresh model per (seed, method, fraction), plus one unmodified model per seed. The
random-order reference draws its own order per seed. The result is a long table; each finished
training is also handed to ``on_result`` so that a long run can save as it goes.

:func:`mask_only_runs` asks whether the removed set still tells the class by its shape (a
garment's silhouette): it trains the same kind of model on the binary removal masks alone, from
the same orders and the same :func:`~.roar.removal_mask`. Test accuracy well above chance means
ROAR's retrained model can read the class from where pixels were removed, not only from those left.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from .._validation import as_images, non_negative_int, positive_int
from .._validation import fraction as check_fraction
from ._checks import check_targets, method_maps
from ._models import retrain
from .roar import _check_methods, removal_mask, remove_pixels


def removal_mask_images(images, maps, fraction: float) -> np.ndarray:
    """The input of the mask-only model: float32 like ``images`` ``(N, H, W, C)``, 1.0 where ROAR removes a pixel
    (:func:`~.roar.removal_mask` of ``maps`` at ``fraction``), 0.0 elsewhere, on every channel; no pixel values."""
    images = as_images(images)
    removed = removal_mask(maps, fraction)
    if removed.shape != images.shape[:3]:
        raise ValueError(f"`maps` has shape {removed.shape} (N, H, W) but the images are {images.shape[:3]}.")
    return np.repeat(removed[..., None], images.shape[-1], axis=-1).astype(np.float32)


def roar_runs(model, methods: Mapping[str, Callable], x_train, y_train, x_test, y_test, *, fractions=(0.5, 0.9),
              seeds=(0, 1, 2), builder=None, epochs: int = 3, batch_size: int = 256, train_params=None,
              on_result: Callable[[dict], None] | None = None, unmodified: bool = True,
              random_order: bool = True) -> pd.DataFrame:
    """Test accuracy after removing each method's top pixels and retraining, for several seeds.

    Parameters
    ----------
    model : keras.Model
        The explained model (unchanged); its predicted classes are the maps' targets.
    methods : mapping name -> callable
        Attribution methods of the package's signature (parameters bound, e.g. with ``partial``).
    x_train, y_train, x_test, y_test
        Images ``(N, H, W, C)`` and labels ``(N,)``; labels are used only to train and to score.
    fractions : sequence of float in (0, 1]
        Shares of pixels removed (replaced by the image mean, :func:`~.roar.remove_pixels`).
    seeds : sequence of int
        One retraining per seed for every configuration (initial weights and batch order).
    builder : callable, optional
        Returns an untrained model; default a clone of ``model``'s architecture.
    epochs, batch_size, train_params
        Training of each retrained model (:func:`introspect.models.train`).
    on_result : callable, optional
        Called with each finished row (a dict) as soon as it is measured.
    unmodified : bool
        Also train the unmodified reference per seed (False when adding fractions to an earlier run).
    random_order : bool
        Also train the random-order reference per fraction and seed (False when adding methods
        to an earlier run that has it; the random maps depend only on the seed).

    Returns
    -------
    pandas.DataFrame
        Columns ``method`` (``"unmodified"``, each method, ``"random"``), ``fraction`` (0 for
        unmodified), ``seed``, ``accuracy``, ``seconds``. ``1 + (len(methods) + 1) * len(fractions)``
        trainings per seed.
    """
    return _runs(model, methods, x_train, y_train, x_test, y_test, inputs=remove_pixels, columns={},
                 fractions=fractions, seeds=seeds, builder=builder, epochs=epochs, batch_size=batch_size,
                 train_params=train_params, on_result=on_result, unmodified=unmodified, random_order=random_order)


def mask_only_runs(model, methods: Mapping[str, Callable], x_train, y_train, x_test, y_test, *,
                   fractions=(0.1, 0.5, 0.9), seeds=(0,), builder=None, epochs: int = 3, batch_size: int = 256,
                   train_params=None, on_result: Callable[[dict], None] | None = None,
                   random_order: bool = True) -> pd.DataFrame:
    """Test accuracy of a fresh model trained on ROAR's removal masks alone: does the removed set tell the class?

    For each method (maps of ``model``'s predicted class, as in :func:`roar_runs`) and the random
    order, the training and test images are replaced by :func:`removal_mask_images` (1.0 where
    ROAR removes a pixel, 0.0 elsewhere) and a fresh model is trained on them with the true labels.
    Accuracy far above chance (1 / classes) means the mask's shape leaks the class into ROAR's
    retraining; the random order's masks carry no information about the image and are the control.

    Parameters are those of :func:`roar_runs` (``builder`` must accept inputs shaped like the
    images; the default clone of ``model`` does). There is no unmodified reference: with nothing
    removed every mask is blank.

    Returns
    -------
    pandas.DataFrame
        Columns ``method`` (each method, ``"random"``), ``fraction``, ``seed``, ``accuracy``,
        ``seconds``, ``input`` (``"masks"``). ``(len(methods) + random_order) * len(fractions)``
        trainings per seed.
    """
    return _runs(model, methods, x_train, y_train, x_test, y_test, inputs=removal_mask_images,
                 columns={"input": "masks"}, fractions=fractions, seeds=seeds, builder=builder, epochs=epochs,
                 batch_size=batch_size, train_params=train_params, on_result=on_result, unmodified=False,
                 random_order=random_order)


def _runs(model, methods, x_train, y_train, x_test, y_test, *, inputs: Callable, columns: dict, fractions, seeds,
          builder, epochs, batch_size, train_params, on_result, unmodified: bool, random_order: bool) -> pd.DataFrame:
    """The loop of :func:`roar_runs` and :func:`mask_only_runs`: ``inputs(images, maps, fraction)`` makes what
    each fresh model is trained and scored on; ``columns`` are added to every row."""
    from .. import models

    methods = _check_methods(methods, random_reference=True)
    fractions = [check_fraction(f, "fractions", low=1e-9) for f in np.atleast_1d(fractions)]
    seeds = [non_negative_int(int(s), "seeds") for s in np.atleast_1d(seeds)]
    epochs = positive_int(epochs, "epochs")
    x_train = as_images(x_train, "x_train", model=model)
    y_train = check_targets(y_train, x_train, model, "y_train")
    x_test = as_images(x_test, "x_test", model=model)
    y_test = check_targets(y_test, x_test, model, "y_test")
    predicted_train = models.predict_logits(model, x_train).argmax(axis=1)
    predicted_test = models.predict_logits(model, x_test).argmax(axis=1)
    rankings = {name: (method_maps(fn, model, x_train, predicted_train, batch_size, None),
                       method_maps(fn, model, x_test, predicted_test, batch_size, None))
                for name, fn in methods.items()}
    rows = []

    def measure(name, fraction, seed, train_images, test_images):
        start = time.perf_counter()
        fresh = retrain(model, builder, train_images, y_train, epochs=epochs, seed=seed, verbose=0,
                        train_params=train_params)
        row = dict(method=name, fraction=fraction, seed=seed, accuracy=models.accuracy(fresh, test_images, y_test),
                   seconds=time.perf_counter() - start, **columns)
        rows.append(row)
        if on_result is not None:
            on_result(row)

    for seed in seeds if unmodified else []:
        measure("unmodified", 0.0, seed, x_train, x_test)
    for fraction in sorted(fractions, reverse=True):
        for seed in seeds:
            orders = dict(rankings)
            if random_order:
                rng = np.random.default_rng([seed, 7919])
                orders["random"] = (rng.random(x_train.shape[:3]), rng.random(x_test.shape[:3]))
            for name, (train_maps, test_maps) in orders.items():
                measure(name, fraction, seed, inputs(x_train, train_maps, fraction),
                        inputs(x_test, test_maps, fraction))
    return pd.DataFrame(rows)
