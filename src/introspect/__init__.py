"""introspect: explain image classifiers from the inside.

Modules: ``data`` (offline Fashion-MNIST), ``models`` (builders, training, shipped weights),
``saliency`` (attribution methods), ``optimize`` (activation maximization and counterfactuals),
``poisoning`` (Clever Hans triggers), ``metrics`` (faithfulness, localisation, sanity checks),
``plotting`` (figures), ``report`` (the notebooks' toolkit: checked claims, tables, bootstrap intervals,
figure defaults), ``imagenet`` (offline EfficientNet-Lite0).
"""
import os

from . import _native_log

# TensorFlow's C++ start-up chatter (CPU feature notices, graph-attribute warnings) would bury the
# notebooks' outputs; it must be silenced before TensorFlow is first imported. A user's own setting wins.
# The lines TensorFlow writes before its logging is set up ignore the variable; _native_log applies it to them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_native_log.install()

__version__ = "0.1.0"
