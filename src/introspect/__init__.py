"""introspect: explain image classifiers from the inside.

Modules: ``data`` (offline Fashion-MNIST), ``models`` (builders, training, shipped weights),
``saliency`` (attribution methods), ``optimize`` (activation maximization and counterfactuals),
``poisoning`` (Clever Hans triggers), ``metrics`` (faithfulness, localisation, sanity checks),
``plotting`` (figures), ``imagenet`` (offline EfficientNet-Lite0).
"""
import os

# TensorFlow's C++ start-up chatter (CPU feature notices, graph-attribute warnings) would bury the
# notebooks' outputs; it must be silenced before TensorFlow is first imported. A user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
