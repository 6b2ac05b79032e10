"""Testing a hypothesis read off counterfactuals: edit the named part, and a same-size part elsewhere.

Counterfactual differences suggest *which part* of a garment must change for the model to change
its mind. :func:`edit_test` turns that into an intervention on images the model classifies
correctly: add the mean change, restricted to the region where it concentrates, at several sizes,
and count how often the prediction flips to the other class; the control adds the same edit
moved to another part of the image (same pixels values, same size). If the region matters, the
intervention flips more often than the control.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import maps, report
from .._validation import as_images, fraction
from ..numerics import predict


def concentrated_change(differences, share: float = 0.1, sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The mean of ``differences`` ``(N, H, W, C)`` and the region ``(H, W)`` where it concentrates.

    The region holds the ``share`` of pixels with the largest magnitude of the mean change after a
    Gaussian smoothing of ``sigma`` pixels (:func:`introspect.maps.gaussian_smooth`; 0: none), so that
    it names a part of the garment rather than scattered pixels.
    """
    differences = np.asarray(differences, dtype=np.float64)
    share = fraction(share, "share", low=1e-6)
    mean = differences.mean(axis=0)
    magnitude = np.abs(mean).sum(axis=-1)
    if sigma > 0:
        magnitude = maps.gaussian_smooth(magnitude[None], sigma)[0]
    region = magnitude >= np.quantile(magnitude, 1 - share)
    return mean, region


@dataclass
class EditTest:
    """What :func:`edit_test` returns: per edit size, which images flipped to ``to_class``.

    ``intervention`` and ``control`` are ``(S, N)`` bool for the ``S`` ``sizes`` (L2 norm of the edit);
    ``pattern`` and ``control_pattern`` ``(H, W, C)`` are the two edits at unit L2 norm.
    """

    sizes: np.ndarray
    intervention: np.ndarray
    control: np.ndarray
    pattern: np.ndarray
    control_pattern: np.ndarray

    def table(self, seed: int = 0) -> pd.DataFrame:
        """Flip rates with bootstrap intervals, and the paired interval of their difference, per size."""
        rows = []
        for size, edit, control in zip(self.sizes, self.intervention, self.control):
            rows.append({"edit size (L2)": size, "intervention flips": edit.mean(),
                         "interval": report.bootstrap_ci(edit, seed=seed), "control flips": control.mean(),
                         "control interval": report.bootstrap_ci(control, seed=seed),
                         "difference": edit.mean() - control.mean(),
                         "difference interval": report.paired_bootstrap_ci(edit, control, seed=seed)})
        return pd.DataFrame(rows)


def matched_pixels(region, images, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of ``region`` ``(H, W)``, a pixel outside it of the same kind in ``images``.

    "Same kind": nearest in (mean brightness, mean edge strength) over ``images`` ``(N, H, W, C)``,
    both standardised, so that garment edges are matched by garment edges of the same contrast and
    background by background; each outside pixel is used once (greedy, in a seeded random order).
    Returns ``(source, target)``, flat pixel indices ``(R,)`` into ``H * W``.
    """
    images = as_images(images, "images", value_range=(0, 1))
    region = np.asarray(region, bool)
    gray = images.mean(axis=-1)
    rows, cols = np.gradient(gray, axis=(1, 2))
    features = np.stack([gray.mean(axis=0).ravel(), np.hypot(rows, cols).mean(axis=0).ravel()], axis=1)
    features = (features - features.mean(axis=0)) / np.maximum(features.std(axis=0), 1e-12)
    source = np.random.default_rng(seed).permutation(np.flatnonzero(region.ravel()))
    free = ~region.ravel()
    if free.sum() < len(source):
        raise ValueError("`region` covers more than half of the image: no same-size control outside it.")
    target = np.empty_like(source)
    for i, pixel in enumerate(source):
        distance = np.where(free, np.square(features - features[pixel]).sum(axis=1), np.inf)
        target[i] = int(np.argmin(distance))
        free[target[i]] = False
    return source, target


def edit_test(model, images, change, region, to_class: int, *, sizes=(1.0, 2.0, 3.0), shift: int = 14,
              control: str = "shift", seed: int = 0) -> EditTest:
    """Add ``change`` inside ``region`` to ``images`` at several sizes, and a same-size control edit.

    Parameters
    ----------
    model : keras.Model
        The classifier (logits or probabilities: only the argmax is used).
    images : array-like (N, H, W, C)
        Images in [0, 1] the model classifies correctly.
    change : array (H, W, C)
        The edit pattern (e.g. a mean counterfactual change from :func:`concentrated_change`).
    region : array (H, W) bool
        Where the edit is applied; ``change`` outside it is dropped.
    to_class : int
        The class a flip goes to.
    sizes : sequence of float
        L2 norms of the edit before clipping to [0, 1].
    shift : int
        Rows by which the control edit is rolled (cyclically) with ``control="shift"``.
    control : {"shift", "matched"}
        ``"shift"``: the same edit ``shift`` rows lower; ``"matched"``: the same edit values moved
        pixel by pixel to pixels of the same kind outside ``region`` (:func:`matched_pixels`, on
        ``images``): same size, same contrast, another place.
    """
    images = as_images(images, "images", model=model, value_range=(0, 1))
    change, region = np.asarray(change, np.float64), np.asarray(region, bool)
    if change.shape != images.shape[1:] or region.shape != images.shape[1:3]:
        raise ValueError(f"`change` must be (H, W, C) = {images.shape[1:]} and `region` (H, W); got "
                         f"{change.shape} and {region.shape}.")
    edit = change * region[..., None]
    norm = np.sqrt(np.square(edit).sum())
    if norm == 0:
        raise ValueError("`change` is zero inside `region`: nothing to edit.")
    edit /= norm
    if control == "matched":
        source, target = matched_pixels(region, images, seed=seed)
        flat = edit.reshape(-1, edit.shape[-1])
        moved = np.zeros_like(flat)
        moved[target] = flat[source]
        moved = moved.reshape(edit.shape)
    elif control == "shift":
        moved = np.roll(edit, shift, axis=0)
    else:
        raise ValueError(f"`control` must be 'shift' or 'matched'; got {control!r}.")
    sizes = np.asarray(sizes, np.float64)
    flips = {}
    for name, pattern in (("intervention", edit), ("control", moved)):
        batch = np.concatenate([np.clip(images + s * pattern, 0, 1) for s in sizes]).astype(np.float32)
        predicted = predict(model, batch).argmax(axis=1).reshape(len(sizes), len(images))
        flips[name] = predicted == to_class
    return EditTest(sizes, flips["intervention"], flips["control"], edit, moved)


def flip_table(model, variants: dict, to_class: int, *, controls: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """Share of each variant's images predicted as ``to_class``, with intervals paired to a reference.

    ``variants`` maps a name to images ``(N, H, W, C)``, the same N images edited in different ways.
    Each variant is compared with ``controls[name]`` (another variant's name) or else with the first
    variant (e.g. the unedited images). Columns: ``edit``, ``flips``, ``interval``, ``compared with``,
    ``difference`` and ``difference interval`` (paired bootstrap over the images).
    """
    names = list(variants)
    flips = {name: predict(model, np.asarray(variants[name], np.float32)).argmax(axis=1) == to_class
             for name in names}
    controls = dict(controls or {})
    unknown = set(controls.values()) - set(names)
    if unknown:
        raise ValueError(f"`controls` names variants that do not exist: {sorted(unknown)}.")
    rows = []
    for name, hit in flips.items():
        other = controls.get(name, names[0])
        rows.append({"edit": name, "flips": hit.mean(), "interval": report.bootstrap_ci(hit, seed=seed),
                     "compared with": other, "difference": hit.mean() - flips[other].mean(),
                     "difference interval": report.paired_bootstrap_ci(hit, flips[other], seed=seed)})
    return pd.DataFrame(rows)
