"""What to do once a Clever Hans is found: retrain with the right reasons, or project the artifact out.

* :func:`right_for_the_right_reasons` (Ross et al. 2017, arXiv:1703.03717): train a copy with an
  input-gradient penalty inside "should not matter" masks.
* :func:`pclarc` (Anders et al. 2022, arXiv:1912.11425): remove an artifact's direction from a hidden
  layer's activations, no retraining.

Both return new models; the user's model is never changed.
"""
from .clarc import DIRECTIONS, ArtifactProjection, artifact_direction, pclarc
from .rrr import right_for_the_right_reasons

__all__ = ["right_for_the_right_reasons", "pclarc", "artifact_direction", "ArtifactProjection", "DIRECTIONS"]
