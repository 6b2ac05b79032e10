"""Fill masked pixels from their neighbours: the counterexamples of a Right-for-the-Right-Reasons repair.

A counterexample for :func:`~.rrr.right_for_the_right_reasons` (Ross et al. 2017, arXiv:1703.03717)
is a training image with its "should not matter" region replaced by what the image would plausibly
show there without the artifact, with the same label. The fill itself, :func:`introspect.maps.inpaint`,
lives with the other image numerics (occlusion uses it too).
"""
from __future__ import annotations

import numpy as np

from ..maps import as_masks as _as_bool_masks
from ..maps import inpaint

__all__ = ["inpaint", "as_masks"]


def as_masks(masks, shape: tuple, name: str = "masks") -> np.ndarray:
    """``(N, H, W, 1 or C)`` float32 0/1 masks from bool or 0/1 ``(N, H, W)`` or ``(N, H, W, C)`` for ``shape``."""
    return _as_bool_masks(masks, shape, name, meaning="the pixel should not matter").astype(np.float32)
