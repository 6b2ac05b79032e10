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


def edit_test(model, images, change, region, to_class: int, *, sizes=(1.0, 2.0, 3.0), shift: int = 14) -> EditTest:
    """Add ``change`` inside ``region`` to ``images`` at several sizes; the control moves it by ``shift`` rows.

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
        Rows by which the control edit is rolled (cyclically): the same edit on another part.
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
    moved = np.roll(edit, shift, axis=0)
    sizes = np.asarray(sizes, np.float64)
    flips = {}
    for name, pattern in (("intervention", edit), ("control", moved)):
        batch = np.concatenate([np.clip(images + s * pattern, 0, 1) for s in sizes]).astype(np.float32)
        predicted = predict(model, batch).argmax(axis=1).reshape(len(sizes), len(images))
        flips[name] = predicted == to_class
    return EditTest(sizes, flips["intervention"], flips["control"], edit, moved)
