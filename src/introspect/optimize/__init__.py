"""One input-optimisation loop: activation maximisation and counterfactual search.

Feature visualisation (Olah et al., Distill 2017, "Feature Visualization") and counterfactual
explanations (Wachter et al. 2017, arXiv:1711.00399) are the same procedure: change the input of
a frozen classifier by gradient steps on a score. That procedure is :func:`optimize`; the uses
differ only in what is plugged into it, one module each:

* :mod:`.objectives`, what is maximised: :func:`class_logit`, :func:`class_probability`,
  :func:`channel`, :func:`neuron`, :func:`counterfactual`; objectives add and scale (``0.5 * a + b``);
* :mod:`.params`, how the image is represented: ``"clip"`` (pixels, clipped to [0, 1] after each
  step), ``"sigmoid"`` (sigmoid of free variables) or ``"fourier"`` (decorrelated Fourier basis,
  Mordvintsev et al., Distill 2018, "Differentiable Image Parameterizations");
* :mod:`.transforms`, random transforms before every forward pass (:func:`jitter`,
  :func:`random_scale`, :func:`random_rotation`), and :mod:`.regularizers` (:func:`l2`,
  :func:`total_variation`, :func:`blur`).

:mod:`.loop` holds :func:`optimize`; :func:`counterfactuals` (:mod:`.counterfactuals`) wraps it for a
batch of misclassified images and stops each at its first flip. Built on top:

* :mod:`.minimal`: :func:`minimal_counterfactuals`, which keeps minimising after the flip
  (Carlini & Wagner, arXiv:1608.04644, binary search over the constant), optionally guided by class
  prototypes in an autoencoder's latent space (:func:`class_prototypes`; Van Looveren & Klaise,
  arXiv:1907.02584) for plausible counterfactuals;
* :mod:`.recipes`: named visualisation recipes (:data:`RECIPES`: ``"pixels"``, ``"fourier"`` after
  Lucid, ``"maco"`` after Fel et al. 2023, arXiv:2306.06805) run by :func:`run_recipe`;
* :mod:`.visualise`: :func:`visualise_classes` and :func:`visualise_channels` by a recipe, or through a
  decoder prior (:func:`decoder_param`); :mod:`.spectrum`: :func:`image_statistics` (how photo-like
  images are) and the natural-image spectrum that ``"maco"`` keeps; :mod:`.photo_study`: notebook 03's
  visualisations of EfficientNet-Lite0 judged by EfficientNet-Lite2;
* :mod:`.dataset_examples`: :func:`dataset_examples` and :func:`receptive_field_crops` beside channel
  visualisations;
* :mod:`.assess` and :mod:`.interventions`: per-image judgements of changes (:func:`change_table`,
  :func:`realism`, :func:`mask_statistics`, :func:`detection_auc`, :func:`blur_recovery`) and the
  intervention-vs-control :func:`edit_test` of a hypothesis read off counterfactuals (control shifted
  or on :func:`matched_pixels` of the same kind), :func:`flip_table` for several edits of the same images;
* :mod:`.recipes`: :func:`run_grid` (one run per update, parametrisation, start and objective) and
  :func:`logit_paths` (target and largest other logit over the snapshots);
* :mod:`.baselines`: :func:`latent_move`, the model-free walk towards a class prototype;
* :mod:`.ground_truth`: :func:`trigger_counterfactuals`, minimal counterfactuals of a shortcut
  model's mistakes measured against the planted trigger.
"""
from .assess import blur_recovery, change_table, detection_auc, mask_statistics, realism
from .baselines import latent_move
from .counterfactuals import CounterfactualResult, counterfactuals
from .dataset_examples import DatasetExamples, dataset_examples, receptive_field_crops
from .ground_truth import change_in_region, pattern_cosine, pattern_drawn, trigger_counterfactuals
from .interventions import EditTest, concentrated_change, edit_test, flip_table, matched_pixels
from .loop import OptimizationResult, optimize
from .minimal import MinimalResult, Prototypes, class_prototypes, minimal_counterfactuals
from .objectives import (DISTANCES, Objective, channel, class_logit, class_probability, counterfactual,
                         layer_activation, neuron)
from .params import DEFAULT_LEARNING_RATE, PARAMETRISATIONS, PARAMS, color_basis, fourier_scale, fourier_start
from .recipes import (DEFAULT_RECIPE, FALLBACK_RECIPE, RECIPES, Recipe, default_recipe, logit_paths, lucid_transforms,
                      run_grid, run_recipe)
from .regularizers import Regularizer, blur, l2, total_variation
from .spectrum import image_statistics, natural_magnitude, spectrum_slope
from .transforms import Transform, jitter, pad, random_rotation, random_scale
from .visualise import decoder_param, visualise_channels, visualise_classes

__all__ = [
    "optimize", "OptimizationResult", "counterfactuals", "CounterfactualResult",
    "minimal_counterfactuals", "MinimalResult", "Prototypes", "class_prototypes",
    "visualise_classes", "visualise_channels", "run_recipe", "Recipe", "RECIPES", "DEFAULT_RECIPE",
    "FALLBACK_RECIPE", "default_recipe",
    "lucid_transforms", "image_statistics", "natural_magnitude", "spectrum_slope", "decoder_param",
    "dataset_examples", "DatasetExamples", "receptive_field_crops",
    "change_table", "realism", "mask_statistics", "detection_auc", "blur_recovery", "latent_move",
    "edit_test", "EditTest", "concentrated_change", "flip_table", "matched_pixels",
    "run_grid", "logit_paths", "trigger_counterfactuals", "change_in_region", "pattern_cosine", "pattern_drawn",
    "Objective", "class_logit", "class_probability", "channel", "neuron", "layer_activation", "counterfactual",
    "DISTANCES", "PARAMS", "PARAMETRISATIONS", "DEFAULT_LEARNING_RATE", "color_basis", "fourier_scale", "fourier_start",
    "Transform", "pad", "jitter", "random_scale", "random_rotation",
    "Regularizer", "l2", "total_variation", "blur",
]
