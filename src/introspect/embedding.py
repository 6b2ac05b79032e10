"""A layer's activations in two dimensions (PCA, t-SNE) and how mixed the classes are around each image.

t-SNE: van der Maaten & Hinton (2008), JMLR 9; the neighbour counts are taken in the layer's own
space, not in the 2-D picture, which distorts distances.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._keras import find_layer, layer_outputs, weighted_layers
from ._validation import as_images, non_negative_int, positive_int


def layer_activations(model, images, *, layer: str | None = None, batch_size: int = 256) -> np.ndarray:
    """Activations ``(N, D)`` of ``layer`` (default: the layer feeding the last layer with weights).

    For a classifier ending in ``dense -> dropout -> logits`` the default is ``dense``, the
    penultimate representation the logits are a linear function of.
    """
    if layer is None:
        layer = weighted_layers(model)[-2].name
    try:
        found = find_layer(model, layer)
    except ValueError:
        raise ValueError(f"`layer` must name a layer of the model, e.g. {weighted_layers(model)[-2].name!r}; "
                         f"got {layer!r}.") from None
    return layer_outputs(model, found, as_images(images, model=model), positive_int(batch_size, "batch_size"))


def embed_2d(features, *, methods=("PCA", "t-SNE"), seed: int = 0, perplexity: float = 30.0) -> dict[str, np.ndarray]:
    """2-D coordinates ``(N, 2)`` of ``features`` ``(N, D)`` per method (``"PCA"``, ``"t-SNE"``).

    t-SNE starts from the PCA coordinates (seeded), so two runs on one machine agree.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 5:
        raise ValueError(f"`features` must be an (N, D) array with N >= 5; got shape {features.shape}.")
    seed = non_negative_int(seed, "seed")
    unknown = set(methods) - {"PCA", "t-SNE"}
    if unknown:
        raise ValueError(f"`methods` must be a subset of ('PCA', 't-SNE'); got {sorted(unknown)}.")
    out = {}
    if "PCA" in methods:
        out["PCA"] = PCA(2, random_state=seed).fit_transform(features)
    if "t-SNE" in methods:
        out["t-SNE"] = TSNE(2, perplexity=min(perplexity, (len(features) - 1) / 3), init="pca",
                            random_state=seed).fit_transform(features)
    return out


def neighbour_classes(features, labels, *, k: int = 10, num_classes: int | None = None) -> np.ndarray:
    """For each image, the share of its ``k`` nearest neighbours (Euclidean, itself excluded) in each class.

    Returns ``(N, num_classes)`` rows summing to 1; averaged over a class it says which other classes
    surround that class in the layer's space.
    """
    from sklearn.neighbors import NearestNeighbors

    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(f"`features` must be (N, D) and `labels` (N,); got {features.shape} and {labels.shape}.")
    k = positive_int(k, "k")
    if k >= len(features):
        raise ValueError(f"`k` must be smaller than the number of images ({len(features)}); got {k}.")
    num_classes = int(labels.max()) + 1 if num_classes is None else positive_int(num_classes, "num_classes")
    _, index = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    neighbours = labels[index[:, 1:]]
    return np.stack([(neighbours == c).mean(axis=1) for c in range(num_classes)], axis=1)


def class_mixing(shares: np.ndarray, labels, names) -> pd.DataFrame:
    """Mean neighbour shares per true class (rows) and neighbour class (columns), named by ``names``.

    ``shares`` ``(N, K)`` from :func:`neighbour_classes`; a class without images gets a row of NaN.
    """
    labels = np.asarray(labels).astype(int)
    shares = np.asarray(shares, dtype=np.float64)
    if len(names) != shares.shape[1]:
        raise ValueError(f"`names` must name the {shares.shape[1]} classes of `shares`; got {len(names)} names.")
    rows = [shares[labels == c].mean(axis=0) if (labels == c).any() else np.full(shares.shape[1], np.nan)
            for c in range(shares.shape[1])]
    table = pd.DataFrame(rows, columns=list(names))
    table.insert(0, "class", list(names))
    return table
