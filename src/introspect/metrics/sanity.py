"""Sanity checks for attribution methods (Adebayo et al., arXiv:1810.03292): do maps depend on the model?

* :func:`model_randomization`: re-initialise layers of a clone, top down, and compare maps;
* :func:`label_randomization`: train the same architecture on shuffled labels and compare maps.

Neither is a pure function of arrays: both make models (a clone with re-drawn weights, or a
model trained from scratch); the model passed in is never changed.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._keras import all_layer_names, find_layer, weighted_layers
from .._progress import bar
from .._validation import as_images, non_negative_int, positive_int
from ._checks import check_images, check_method, check_targets, method_maps
from ._models import clone, randomize_layer, retrain
from .similarity import SIMILARITIES, nan_mean, similarities


@dataclass
class RandomizationResult:
    """Similarity of maps after randomising layers to the maps of the intact model.

    ``layers`` lists the rows: ``"original"`` (an untouched clone; 1 for a deterministic method),
    then each randomised layer, top down (cascading: that layer and every layer above it).
    ``per_example[metric]`` is ``(rows, N)`` for ``metric`` in ``"spearman"`` (signed maps),
    ``"spearman_abs"`` and ``"ssim"`` (magnitude maps); ``maps[row]`` holds the maps (N, H, W),
    ``maps["reference"]`` those of the intact model.
    """

    mode: str
    layers: list[str]
    per_example: dict[str, np.ndarray]
    maps: dict[str, np.ndarray]

    @property
    def similarity(self) -> dict[str, dict[str, float]]:
        """``layer -> metric -> mean over examples`` (NaNs of constant maps ignored)."""
        return {layer: {metric: nan_mean(values[row]) for metric, values in self.per_example.items()}
                for row, layer in enumerate(self.layers)}

    def as_table(self) -> list[dict]:
        """One row per layer: ``{"layer": name, "spearman": ..., "spearman_abs": ..., "ssim": ...}``."""
        return [{"layer": layer, **scores} for layer, scores in self.similarity.items()]


def _layers_to_randomize(model, layers) -> list[str]:
    if layers is None:
        names = [layer.name for layer in reversed(weighted_layers(model))]
    else:
        names, known = list(layers), all_layer_names(model)
        for name in names:
            if name not in known:
                raise ValueError(f"`layers`: {name!r} is not a layer of model {model.name!r}; layers are: "
                                 f"{', '.join(known)}.")
            if not find_layer(model, name).weights:
                raise ValueError(f"`layers`: layer {name!r} has no weights to randomise.")
    if not names:
        raise ValueError(f"`model` has no layers with weights; layers are {all_layer_names(model)}.")
    return names


def model_randomization(model, method, images, targets, *, cascading: bool = True, layers=None, seed: int = 0,
                        batch_size: int = 64, method_params: Mapping | None = None,
                        progress: bool = True) -> RandomizationResult:
    """Adebayo et al.'s model-parameter randomisation test (arXiv:1810.03292).

    The maps of ``method`` on the intact ``model`` are compared with its maps on a clone whose
    layers are re-initialised from the top (logits) down: cumulatively (``cascading=True``) or one
    layer at a time (``cascading=False``). A method that explains the model should lose
    similarity as learned weights are destroyed; one that stays similar is explaining the input.
    ``model`` itself is never changed (everything happens on ``keras.models.clone_model``).

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential (it must be clonable).
    method : callable
        ``method(model, images, targets, *, batch_size, **method_params) -> maps``.
    images : (N, H, W, C)
    targets : int or (N,)
    layers : list of str, optional
        Layers to randomise, in this order; default every layer with weights, top down.
    seed : int
        Seeds the re-initialisation (the same seed gives the same random weights).
    progress : bool
        Show a plain-text progress bar (one tick per set of maps) when the call lasts over ~2 s.

    Returns
    -------
    RandomizationResult
        Rows ``"original"`` then one per layer; ``similarity`` gives the means.
    """
    method = check_method(method)
    randomized = clone(model)
    images = check_images(images, model)
    targets = check_targets(targets, images, model)
    batch_size = positive_int(batch_size, "batch_size")
    seed = non_negative_int(seed, "seed")
    names = _layers_to_randomize(model, layers)

    def maps_of(network) -> np.ndarray:
        return method_maps(method, network, images, targets, batch_size, method_params)

    with bar(len(names) + 2, "model randomisation", progress, unit="maps") as shown:
        reference = maps_of(model)
        original_weights = randomized.get_weights()
        rows, maps = ["original"], {"reference": reference, "original": maps_of(randomized)}
        shown.update(2)
        scores = [similarities(reference, maps["original"])]
        index = {layer.name: i for i, layer in enumerate(weighted_layers(model))}
        for name in names:
            if not cascading:
                randomized.set_weights(original_weights)
            randomize_layer(find_layer(randomized, name), seed, index.get(name, len(index)))
            maps[name] = maps_of(randomized)
            scores.append(similarities(reference, maps[name]))
            rows.append(name)
            shown.update()
    per_example = {metric: np.stack([row[metric] for row in scores]) for metric in SIMILARITIES}
    return RandomizationResult("cascading" if cascading else "independent", rows, per_example, maps)


@dataclass
class LabelRandomizationResult:
    """Maps of a model trained on true labels versus the same architecture trained on shuffled ones.

    ``per_example[metric]`` is ``(N,)``; ``similarity`` the means; ``maps`` and ``random_maps``
    ``(N, H, W)``; ``random_model`` the model trained on shuffled labels and ``shuffled_accuracy``
    its accuracy on its own shuffled training labels (how much it memorised).
    """

    per_example: dict[str, np.ndarray]
    maps: np.ndarray
    random_maps: np.ndarray
    random_model: object
    shuffled_accuracy: float

    @property
    def similarity(self) -> dict[str, float]:
        """``metric -> mean over examples`` (NaNs of constant maps ignored)."""
        return {metric: nan_mean(values) for metric, values in self.per_example.items()}


def label_randomization(model, method, images, targets, x_train, y_train, *, builder=None, epochs: int = 2,
                        seed: int = 0, batch_size: int = 64, method_params: Mapping | None = None,
                        train_params: Mapping | None = None, verbose: int = 0,
                        progress: bool = True) -> LabelRandomizationResult:
    """Adebayo et al.'s data-randomisation test (arXiv:1810.03292).

    Trains the same architecture (``builder()``, default a fresh ``clone_model(model)``) on
    ``(x_train, permuted y_train)`` with :func:`introspect.models.train` (seeded, ``epochs``),
    then compares ``method``'s maps of ``images`` ``(N, H, W, C)`` for ``targets`` (int or
    ``(N,)``) on ``model`` and on that model. A model that learned nothing about the labels
    should get different explanations; high similarity means the method mostly shows the
    input. ``model`` is not changed. ``progress`` shows a plain-text bar (training, then each set
    of maps) when the call lasts over ~2 s.
    """
    from .. import models

    method = check_method(method)
    images = check_images(images, model)
    targets = check_targets(targets, images, model)
    x_train = as_images(x_train, "x_train", model=model)
    y_train = check_targets(y_train, x_train, model, "y_train")
    epochs = positive_int(epochs, "epochs")
    seed = non_negative_int(seed, "seed")
    batch_size = positive_int(batch_size, "batch_size")
    shuffled = np.random.default_rng(seed).permutation(y_train)
    with bar(3, "label randomisation", progress, unit="stages") as shown:
        random_model = retrain(model, builder, x_train, shuffled, epochs=epochs, seed=seed, verbose=verbose,
                               train_params=train_params)
        shown.update()
        maps = method_maps(method, model, images, targets, batch_size, method_params)
        shown.update()
        random_maps = method_maps(method, random_model, images, targets, batch_size, method_params)
        shown.update()
    return LabelRandomizationResult(similarities(maps, random_maps), maps, random_maps, random_model,
                                    models.accuracy(random_model, x_train, shuffled))
