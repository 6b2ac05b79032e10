"""Transparent by design: a ProtoPNet, a classifier that explains itself with prototypes.

Chen et al. 2019, "This looks like that: deep learning for interpretable image recognition"
(arXiv:1806.10574). The network compares every patch of an image's latent map with ``m`` learned
prototypes per class; its logits are a linear function of the best similarities. After training
each prototype *is* a patch of a training image, so an explanation reads "this part of the input
looks like that part of that training image".

* :func:`build_protopnet`: the network for small images (28x28 gives 14x14 latent patches);
* :func:`train_protopnet`: the paper's schedule (warm-up, joint training with cluster and
  separation costs, :func:`push`, last-layer optimisation), seeded; the stages are also separate
  functions (:func:`warm_up`, :func:`joint`, :func:`push`, :func:`last_layer`);
* :func:`show_prototypes`, :func:`show_explanation`: each prototype as its training patch boxed on
  its image, and an input's top prototypes with their similarity maps.
"""

from .display import show_explanation, show_prototypes, top_prototypes
from .protopnet import build_protopnet, last_layer_init, log_similarity, prototype_classes, similarity_maps
from .push import PushRecord, patch_boxes, push, receptive_field
from .train import Schedule, TrainedProtoPNet, joint, last_layer, train_protopnet, warm_up

__all__ = ["build_protopnet", "train_protopnet", "Schedule", "TrainedProtoPNet", "warm_up", "joint", "push",
           "last_layer", "PushRecord", "patch_boxes", "receptive_field", "log_similarity", "prototype_classes",
           "last_layer_init", "similarity_maps", "show_prototypes", "show_explanation", "top_prototypes"]
