"""SpRAy: find classes whose explanations look like a shortcut, from the maps alone.

Spectral relevance analysis (Lapuschkin et al., arXiv:1902.10178): cluster each class's maps
and flag classes where a sizeable group agrees on a small spot, such as a planted trigger.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import as_class_indices, fraction, non_negative_int, one_of, positive_int
from ._checks import as_maps

_COLUMNS = ("suspicion", "eigengap", "n_clusters", "largest_cluster_share", "concentration", "image_concentration",
            "mean_concentration")


@dataclass
class SprayResult:
    """Per-class Clever-Hans suspicion from the structure of saliency maps alone.

    Arrays are ``(K,)`` over ``classes``. ``suspicion = max over clusters of share * concentration``:
    high when a sizeable group of the class's maps agree on a small spot. ``eigengap`` is the
    largest gap among the first eigenvalues of the normalised kNN-graph Laplacian (SpRAy's
    cue for well separated groups), ``n_clusters`` the group count it suggests,
    ``largest_cluster_share`` the share of images in the biggest group, ``concentration`` that
    of the cluster behind ``suspicion``: the share of its mean map's relevance in the top
    ``top_share`` of cells, rescaled so that a uniform map gives 0 and a single cell 1.
    ``image_concentration`` is the same statistic averaged over single maps, ``mean_concentration``
    that of the whole class's mean map (the plain class-mean |map| baseline, no clustering).
    ``suspicious_cluster[c]`` is the cluster behind class ``c``'s suspicion; with
    ``cluster_labels[c]`` and ``indices[c]`` it gives the maps of that cluster.
    """

    classes: np.ndarray
    suspicion: np.ndarray
    eigengap: np.ndarray
    n_clusters: np.ndarray
    largest_cluster_share: np.ndarray
    concentration: np.ndarray
    image_concentration: np.ndarray
    mean_concentration: np.ndarray
    eigenvalues: dict = field(default_factory=dict)
    cluster_labels: dict = field(default_factory=dict)
    indices: dict = field(default_factory=dict)
    suspicious_cluster: dict = field(default_factory=dict)

    def ranking(self) -> np.ndarray:
        """Classes from most to least suspicious (NaN last)."""
        return self.classes[np.argsort(-np.nan_to_num(self.suspicion, nan=-np.inf), kind="stable")]

    def as_table(self) -> list[dict]:
        """One row per class: ``{"class": c, "suspicion": ..., ...}``."""
        return [{"class": int(c), **{key: getattr(self, key)[i].item() for key in _COLUMNS}}
                for i, c in enumerate(self.classes)]


def _downsize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from skimage.transform import resize

    if maps.shape[1:] == size:
        return maps
    return resize(maps, (len(maps), *size), order=1, anti_aliasing=True, mode="edge").astype(np.float64)


def _concentration(maps: np.ndarray, top_share: float) -> np.ndarray:
    """Rescaled share of mass in the top cells of nonnegative maps ``(M, P)``: 0 uniform, 1 one cell."""
    cells = maps.shape[1]
    top = max(1, int(np.ceil(top_share * cells)))
    if top >= cells:
        return np.zeros(len(maps))
    totals = maps.sum(axis=1)
    mass = np.sort(maps, axis=1)[:, ::-1][:, :top].sum(axis=1) / np.where(totals > 0, totals, 1)
    uniform = top / cells
    return np.where(totals > 0, (mass - uniform) / (1 - uniform), 0.0)


def spray(maps, labels, *, size: int | tuple[int, int] = 8, part: str = "abs", n_neighbors: int = 10,
          max_clusters: int = 8, top_share: float = 0.1, max_per_class: int = 500, seed: int = 0) -> SprayResult:
    """SpRAy-style search for classes whose explanations look like a shortcut (arXiv:1902.10178).

    For every class: take the magnitude (``part="abs"``) or positive part of its maps, downsize
    them to ``size x size``, normalise each to unit sum, connect each map to its
    ``n_neighbors`` nearest maps (symmetric kNN graph), compute the spectrum of the normalised
    graph Laplacian, choose the number of clusters by the eigengap among the first
    ``max_clusters`` eigenvalues, cluster the spectral embedding with k-means and score each
    cluster by ``share of the class * concentration of its mean map``. A class whose maps (or a
    tight group of them) sit on one small spot, such as a planted trigger, gets a high
    suspicion; classes with diffuse, varied maps score low. Neither trigger masks nor a
    poisoning plan is used.

    Parameters
    ----------
    maps : (N, H, W) or (N, H, W, C)
        Saliency maps (channels summed), e.g. of each image for its predicted or true class.
    labels : (N,) int
        Class each map belongs to (grouping only).
    max_per_class : int
        Larger classes are subsampled (seeded) to keep the dense eigendecomposition cheap.

    Returns
    -------
    SprayResult
        Per-class statistics; classes with fewer than 3 maps get NaN.
    """
    from scipy.sparse.csgraph import laplacian
    from sklearn.cluster import KMeans
    from sklearn.neighbors import kneighbors_graph

    relevance = as_maps(maps)
    labels = as_class_indices(labels, len(relevance), None, "labels")
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size) if isinstance(size, (tuple, list)) else ()
    if len(pair) != 2:
        raise ValueError(f"`size` must be an int or (height, width); got {size!r}.")
    size = (positive_int(pair[0], "size"), positive_int(pair[1], "size"))
    one_of(part, ("abs", "positive"), "part")
    n_neighbors = positive_int(n_neighbors, "n_neighbors")
    max_clusters = positive_int(max_clusters, "max_clusters")
    top_share = fraction(top_share, "top_share")
    max_per_class = positive_int(max_per_class, "max_per_class")
    seed = non_negative_int(seed, "seed")
    relevance = np.abs(relevance) if part == "abs" else np.maximum(relevance, 0.0)

    classes = np.unique(labels)
    columns = {key: np.full(len(classes), np.nan) for key in _COLUMNS}
    result = SprayResult(classes=classes, **columns)
    for row, cls in enumerate(classes):
        members = np.flatnonzero(labels == cls)
        if len(members) > max_per_class:
            members = np.sort(np.random.default_rng([seed, int(cls)]).choice(members, max_per_class, replace=False))
        result.indices[int(cls)] = members
        if len(members) < 3:
            continue
        small = _downsize(relevance[members], size).reshape(len(members), -1)
        small = np.maximum(small, 0.0)
        totals = small.sum(axis=1, keepdims=True)
        small = np.where(totals > 0, small / np.where(totals > 0, totals, 1), 1.0 / small.shape[1])
        graph = kneighbors_graph(small, min(n_neighbors, len(members) - 1), mode="connectivity", include_self=False)
        graph = graph.maximum(graph.T).toarray()
        eigenvalues, eigenvectors = np.linalg.eigh(laplacian(graph, normed=True))
        first = eigenvalues[:min(max_clusters, len(members) - 1) + 1]
        gaps = np.diff(first)
        n_clusters = int(np.argmax(gaps)) + 1
        embedding = eigenvectors[:, :n_clusters]
        embedding = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
        assignment = (np.zeros(len(members), dtype=int) if n_clusters == 1 else
                      KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(embedding))
        shares = np.bincount(assignment, minlength=n_clusters) / len(members)
        cluster_means = np.stack([small[assignment == j].mean(axis=0) if shares[j] > 0 else np.zeros(small.shape[1])
                                  for j in range(n_clusters)])
        concentrations = _concentration(cluster_means, top_share)
        best = int(np.argmax(shares * concentrations))
        result.suspicion[row] = shares[best] * concentrations[best]
        result.eigengap[row] = gaps.max()
        result.n_clusters[row] = n_clusters
        result.largest_cluster_share[row] = shares.max()
        result.concentration[row] = concentrations[best]
        result.image_concentration[row] = _concentration(small, top_share).mean()
        result.mean_concentration[row] = _concentration(small.mean(axis=0, keepdims=True), top_share)[0]
        result.suspicious_cluster[int(cls)] = best
        result.eigenvalues[int(cls)] = first
        result.cluster_labels[int(cls)] = assignment
    return result
