"""introspect: explain image classifiers from the inside.

Packages by family: ``saliency`` (attribution methods), ``metrics`` (localisation, perturbation
curves, sanity checks, ROAR, SpRAy), ``optimize`` (activation maximization and counterfactuals),
``poisoning`` (Clever Hans triggers and plans), ``repair`` (undoing a Clever Hans), ``transparent``
(a ProtoPNet, interpretable by design), ``imagenet`` (offline EfficientNet-Lite0). Over one numerics layer: ``maps`` (numpy) and ``numerics``
(TensorFlow). Around them: ``data`` (offline Fashion-MNIST), ``models`` (builders, training, shipped
weights), ``evaluation`` (mistakes, confusions), ``plotting`` (figures) and ``report`` (the notebooks'
toolkit: checked claims, tables, bootstrap intervals, figure defaults).
"""
import os

from . import _native_log

# TensorFlow's C++ start-up chatter (CPU feature notices, graph-attribute warnings) would bury the
# notebooks' outputs; it must be silenced before TensorFlow is first imported. A user's own setting wins.
# The lines TensorFlow writes before its logging is set up ignore the variable; _native_log applies it to them.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_native_log.install()

__version__ = "0.1.0"
