"""What to do once a Clever Hans is found: retrain with the right reasons, or project the artifact out.

* :func:`right_for_the_right_reasons` (Ross et al. 2017, arXiv:1703.03717): train a copy with an
  input-gradient penalty inside "should not matter" masks, in one call: by default each masked
  image is added once more with its mask filled by :func:`inpaint` (a counterexample), and the
  penalty's weight is chosen so that both loss terms start of the same order (``weight="auto"``;
  the returned model's ``rrr_log`` says what it chose); ``counterexamples=("inpaint", "transplant")`` also pastes
  the masked pixels into other classes' images (A-ClArC's augmentation).
* :func:`inpaint`: fill masked pixels from their neighbours, ``(N, H, W, C)`` images, ``(N, H, W)``
  or ``(N, H, W, C)`` masks.
* :func:`pclarc` (Anders et al. 2022, arXiv:1912.11425): remove an artifact's direction from a hidden
  layer's activations, no retraining.

Both repairs return new models; the user's model is never changed.
"""
from .clarc import DIRECTIONS, ArtifactProjection, artifact_direction, pclarc
from .inpaint import inpaint
from .rrr import RightReasonsLog, right_for_the_right_reasons

__all__ = ["right_for_the_right_reasons", "RightReasonsLog", "inpaint", "pclarc", "artifact_direction",
           "ArtifactProjection", "DIRECTIONS"]
