"""Measure saliency maps: localisation, faithfulness, similarity, sanity checks, ROAR and SpRAy.

Maps are ``(N, H, W)`` or ``(N, H, W, C)``; per-channel maps are summed over channels to one
relevance per pixel before anything is ranked or compared. Functions that query a classifier
take ``model`` (a Keras model or any callable ``images -> (N, K)`` scores, read as logits unless
a Keras model ends in a softmax) and evaluate it in batches through
:func:`introspect.numerics.predict`. Attribution methods are passed in as callables with the
package's one signature ``method(model, images, targets, *, batch_size=64, **params) -> maps``.

One family per module:

- :mod:`.localisation`, pure functions on arrays: :func:`relevance_mass` (Arras et al.,
  arXiv:2003.07258), :func:`pointing_game` (Zhang et al., arXiv:1608.00507),
  :func:`pattern_correlation`;
- :mod:`.similarity`, pure functions on arrays: :func:`spearman`, :func:`ssim`;
- :mod:`.perturbation`, which query the model: :func:`deletion_curve`, :func:`insertion_curve`
  (Petsiuk et al., RISE, arXiv:1806.07421), :func:`contrastive_deletion_curve`, :func:`curve_auc`;
- :mod:`.sanity`, which make models: :func:`model_randomization` re-initialises layers of a
  clone and :func:`label_randomization` trains a model on shuffled labels (Adebayo et al.,
  arXiv:1810.03292);
- :mod:`.roar`, which trains models: :func:`roar` retrains one model per method and fraction
  (Hooker et al., arXiv:1806.10758); :func:`removal_mask` and :func:`remove_pixels` are its pure array steps;
- :mod:`.spray`, pure on arrays: :func:`spray` (Lapuschkin et al., arXiv:1902.10178);
- :mod:`.concepts`, which query the model's hidden layers: :func:`tcav` (Kim et al., arXiv:1711.11279),
  :func:`directional_derivatives`.

Also importable from here, for older code: model evaluation (:func:`gather_mistakes`,
:func:`confusion_matrix`, :func:`top_confusions`) from :mod:`introspect.evaluation`, and the
image statistics :func:`total_variation`, :func:`roughness` from :mod:`introspect.maps`.
"""
from ..evaluation import Mistakes, confusion_matrix, gather_mistakes, top_confusions
from ..maps import BASELINES, roughness, total_variation
from .concepts import ConceptResult, ConceptTest, directional_derivatives, tcav, tcav_test
from .localisation import pattern_correlation, pointing_game, relevance_mass
from .perturbation import (ContrastiveCurve, PerturbationCurve, contrastive_deletion_curve, curve_auc,
                           deletion_curve, insertion_curve)
from .roar import ROAR_FRACTIONS, ROAR_FULL, ROAR_QUICK, RoarResult, removal_mask, remove_pixels, roar
from .sanity import LabelRandomizationResult, RandomizationResult, label_randomization, model_randomization
from .similarity import SIMILARITIES, spearman, ssim
from .spray import SprayResult, spray

__all__ = [
    # localisation
    "relevance_mass", "pointing_game", "pattern_correlation",
    # similarity
    "spearman", "ssim", "SIMILARITIES",
    # perturbation
    "deletion_curve", "insertion_curve", "contrastive_deletion_curve", "curve_auc", "PerturbationCurve",
    "ContrastiveCurve", "BASELINES",
    # sanity checks
    "model_randomization", "label_randomization", "RandomizationResult", "LabelRandomizationResult",
    # ROAR
    "removal_mask", "remove_pixels", "roar", "RoarResult", "ROAR_FRACTIONS", "ROAR_FULL", "ROAR_QUICK",
    # SpRAy
    "spray", "SprayResult",
    # concept tests
    "tcav", "tcav_test", "directional_derivatives", "ConceptResult", "ConceptTest",
    # model evaluation (introspect.evaluation) and image statistics (introspect.maps)
    "gather_mistakes", "Mistakes", "confusion_matrix", "top_confusions", "total_variation", "roughness",
]
