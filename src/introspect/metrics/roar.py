"""RemOve And Retrain (Hooker et al., arXiv:1806.10758): does accuracy fall when top pixels are gone?

:func:`removal_mask` (which pixels go) and :func:`remove_pixels` are pure functions of arrays;
:func:`roar` is not: it trains a fresh model for every method and fraction (see :data:`ROAR_FULL`
and :data:`ROAR_QUICK` for the cost).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._progress import bar
from .._validation import as_images, non_negative_int, positive_int
from .._validation import fraction as check_fraction
from ._checks import as_maps, check_method, check_targets, method_maps, pixel_ranks
from ._models import retrain

ROAR_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: ROAR cost settings: every retraining sees ``train_size`` images for ``epochs`` epochs.
ROAR_FULL = {"fractions": ROAR_FRACTIONS, "train_size": 10000, "test_size": 2000, "epochs": 3}
ROAR_QUICK = {"fractions": (0.1, 0.5, 0.9), "train_size": 2000, "test_size": 500, "epochs": 2}


def removal_mask(maps, fraction: float, *, absolute: bool = True) -> np.ndarray:
    """Boolean ``(N, H, W)``: True at each map's top ``round(fraction * H * W)`` pixels, the ones ROAR removes.

    Pixels are ranked by ``|map|`` (``absolute=True``) or the signed map, ``maps`` ``(N, H, W)`` or
    ``(N, H, W, C)`` with channels summed; ties in raster order (halves round up). The one ranking
    step of :func:`remove_pixels` and of the mask-only control
    (:func:`introspect.metrics.roar_seeds.mask_only_runs`).
    """
    relevance = as_maps(maps)
    fraction = check_fraction(fraction, "fraction")
    count = int(np.floor(fraction * relevance.shape[1] * relevance.shape[2] + 0.5))
    return (pixel_ranks(relevance, absolute) < count).reshape(relevance.shape)


def remove_pixels(images, maps, fraction: float, *, absolute: bool = True) -> np.ndarray:
    """Copy of ``images`` ``(N, H, W, C)`` with each image's top ``round(fraction * H * W)`` pixels set to its mean.

    The replacement is the per-image, per-channel mean of the original image, as in ROAR
    (Hooker et al., arXiv:1806.10758). Which pixels go is :func:`removal_mask` of ``maps``
    (``(N, H, W)`` or ``(N, H, W, C)``, ranked by ``|map|`` unless ``absolute=False``).
    """
    images = as_images(images)
    relevance = as_maps(maps, n=len(images), spatial=images.shape[1:3])
    removed = removal_mask(relevance, fraction, absolute=absolute)[..., None]
    return np.where(removed, images.mean(axis=(1, 2), keepdims=True), images).astype(np.float32)


@dataclass
class RoarResult:
    """Test accuracy of a retrained model after removing each method's top pixels.

    ``accuracy[name]`` is ``(F,)`` over ``fractions`` ``(F,)`` (the first is 0.0: nothing removed,
    shared by all methods); ``"random"`` is the seeded random-order reference. A faithful
    method's accuracy falls faster than random. ``train_indices``/``test_indices`` are the
    subsets used.
    """

    fractions: np.ndarray
    accuracy: dict[str, np.ndarray]
    train_indices: np.ndarray
    test_indices: np.ndarray
    epochs: int

    def as_table(self) -> list[dict]:
        """One row per method and fraction: ``{"method", "fraction_removed", "accuracy"}``."""
        return [{"method": name, "fraction_removed": float(f), "accuracy": float(a)}
                for name, values in self.accuracy.items() for f, a in zip(self.fractions, values)]


def _subset(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    from ..data import stratified_indices

    if size is None or size >= len(labels):
        return np.arange(len(labels))
    positive_int(size, "train_size/test_size")
    return stratified_indices(labels, size, seed)


def _check_methods(methods, random_reference: bool) -> dict:
    if callable(methods):
        methods = {getattr(methods, "__name__", "method"): methods}
    if not isinstance(methods, Mapping):
        raise ValueError(f"`methods` must be a callable or a mapping name -> callable; got {methods!r}.")
    if "random" in methods and random_reference:
        raise ValueError("`methods` may not use the name 'random', which is kept for the random-order reference.")
    return {str(name): check_method(fn) for name, fn in methods.items()}


def roar(model, methods, x_train, y_train, x_test, y_test, *, fractions=None, builder=None, epochs: int | None = None,
         train_size: int | None = None, test_size: int | None = None, quick: bool = False,
         random_reference: bool = True,
         absolute: bool = True, seed: int = 0, batch_size: int = 64, method_params: Mapping | None = None,
         train_params: Mapping | None = None, verbose: int = 0, progress: bool = True) -> RoarResult:
    """RemOve And Retrain (Hooker et al., arXiv:1806.10758).

    For each method (and a random order), the maps of the trained ``model`` rank the pixels of
    every training and test image; the top ``fraction`` are replaced by the image's mean
    (:func:`remove_pixels`), a fresh model is trained on the modified training set and its
    accuracy measured on the modified test set. Every model is built after
    ``set_seed(seed)`` and trained by :func:`introspect.models.train` with ``seed``, so the
    0.0 entry is exactly the accuracy of ``set_seed(seed); m = builder(); train(m, ..., seed=seed)``
    on the unmodified subsets.

    Parameters
    ----------
    model : keras.Model
        The model whose explanations are evaluated (not changed).
    methods : callable or mapping name -> callable
        Attribution methods of the package's signature; maps are taken for the true labels,
        computed in batches of ``batch_size``.
    x_train, y_train, x_test, y_test
        Images ``(N, H, W, C)`` and labels ``(N,)``.
    fractions : sequence of float in (0, 1], optional
        Default ``(0.1, 0.3, 0.5, 0.7, 0.9)``, or ``(0.1, 0.5, 0.9)`` when ``quick``.
    builder : callable, optional
        Returns a new untrained model; default ``keras.models.clone_model(model)`` (same
        architecture, fresh weights), e.g. :func:`introspect.models.build_fashion_cnn`.
    epochs, train_size, test_size : optional
        Cost controls; ``None`` takes :data:`ROAR_FULL` (3 epochs, 10,000 train / 2,000 test
        images) or, with ``quick=True``, :data:`ROAR_QUICK` (2 epochs, 2,000 / 500). Subsets
        are stratified and seeded; pass ``len(x_train)`` to use everything.
    progress : bool
        Show a plain-text progress bar (one tick per map set or training) when the call lasts over ~2 s.

    Returns
    -------
    RoarResult
        Costs ``1 + (len(methods) + random_reference) * len(fractions)`` trainings.
    """
    from .. import models

    defaults = ROAR_QUICK if quick else ROAR_FULL
    fractions = defaults["fractions"] if fractions is None else fractions
    fractions = [check_fraction(f, "fractions") for f in (fractions if np.ndim(fractions) else [fractions])]
    fractions = [f for f in fractions if f > 0]  # 0.0 is always measured, once
    epochs = positive_int(defaults["epochs"] if epochs is None else epochs, "epochs")
    seed = non_negative_int(seed, "seed")
    batch_size = positive_int(batch_size, "batch_size")
    methods = _check_methods(methods, random_reference)
    x_train = as_images(x_train, "x_train", model=model)
    y_train = check_targets(y_train, x_train, model, "y_train")
    x_test = as_images(x_test, "x_test", model=model)
    y_test = check_targets(y_test, x_test, model, "y_test")
    train_indices = _subset(y_train, defaults["train_size"] if train_size is None else train_size, seed)
    test_indices = _subset(y_test, defaults["test_size"] if test_size is None else test_size, seed)
    x_train, y_train = x_train[train_indices], y_train[train_indices]
    x_test, y_test = x_test[test_indices], y_test[test_indices]

    def retrained_accuracy(train_images, test_images) -> float:
        fresh = retrain(model, builder, train_images, y_train, epochs=epochs, seed=seed, verbose=verbose,
                        train_params=train_params)
        return models.accuracy(fresh, test_images, y_test)

    stages = len(methods) + 1 + (len(methods) + random_reference) * len(fractions)
    with bar(stages, "ROAR", progress, unit="stages") as shown:
        rankings = {}
        for name, fn in methods.items():
            rankings[name] = (method_maps(fn, model, x_train, y_train, batch_size, method_params),
                              method_maps(fn, model, x_test, y_test, batch_size, method_params))
            shown.update()
        if random_reference:
            rng = np.random.default_rng(seed)
            rankings["random"] = (rng.random(x_train.shape[:3]), rng.random(x_test.shape[:3]))
        intact = retrained_accuracy(x_train, x_test)
        shown.update()
        accuracy = {name: [intact] for name in rankings}
        for name, (train_maps, test_maps) in rankings.items():
            for f in fractions:
                accuracy[name].append(retrained_accuracy(remove_pixels(x_train, train_maps, f, absolute=absolute),
                                                         remove_pixels(x_test, test_maps, f, absolute=absolute)))
                shown.update()
    accuracy = {name: np.array(values) for name, values in accuracy.items()}
    return RoarResult(np.array([0.0, *fractions]), accuracy, train_indices, test_indices, epochs)
