"""Projective Class Artifact Compensation (P-ClArC): project an artifact's direction out of a hidden layer.

Anders, Weber, Neumann, Samek, Müller & Lapuschkin 2022, "Finding and removing Clever Hans: using
explanation methods to debug and improve deep models", Information Fusion, arXiv:1912.11425.
"""
from __future__ import annotations

import numpy as np

from .. import _keras
from .._validation import as_images, one_of, positive_int

#: How the artifact direction (a concept activation vector) is found.
DIRECTIONS = ("mean_difference", "classifier")


def artifact_direction(model, layer: str, with_artifact, without_artifact, *, direction: str = "mean_difference",
                       batch_size: int = 64) -> tuple[np.ndarray, float]:
    """Unit direction of the artifact in ``layer``'s flattened activations, and the clean examples' position along it.

    ``"mean_difference"``: mean activation with the artifact minus mean without (the "pattern"
    CAV, which points where the artifact moves the activations). ``"classifier"``: the normal of a
    logistic-regression separating the two sets (the "filter" CAV of Kim et al. 2018,
    arXiv:1711.11279), which can also follow directions that merely separate noise.

    Returns
    -------
    (np.ndarray, float)
        ``v`` ``(D,)`` with ``|v| = 1``, D = the layer's activation size, and ``z``, the mean of
        ``v . a`` over the examples without the artifact.
    """
    direction = one_of(direction, DIRECTIONS, "direction")
    target = _keras.find_layer(model, layer) if isinstance(layer, str) else layer
    with_acts = _keras.layer_outputs(model, target, as_images(with_artifact, "with_artifact", model=model),
                                     batch_size)
    without_acts = _keras.layer_outputs(model, target, as_images(without_artifact, "without_artifact", model=model),
                                        batch_size)
    if direction == "mean_difference":
        v = with_acts.mean(axis=0) - without_acts.mean(axis=0)
    else:
        from sklearn.linear_model import LogisticRegression

        # Unstandardised, so that a unit which barely varies cannot dominate the normal.
        features = np.concatenate([with_acts, without_acts])
        labels = np.r_[np.ones(len(with_acts)), np.zeros(len(without_acts))]
        v = LogisticRegression(C=1.0, max_iter=5000).fit(features, labels).coef_[0]
    norm = np.linalg.norm(v)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"`with_artifact` and `without_artifact` give the same activations at layer "
                         f"{target.name!r}; no artifact direction to remove.")
    v = (v / norm).astype(np.float32)
    return v, float(np.mean(without_acts @ v))


def pclarc(model, layer, with_artifact, without_artifact, *, direction: str = "mean_difference",
           batch_size: int = 64):
    """A copy of ``model`` whose ``layer`` output has the artifact direction replaced by the clean examples' value.

    P-ClArC (Anders et al. 2022, arXiv:1912.11425): with ``v`` the unit artifact direction in the
    layer's activations ``a`` (flattened) and ``z`` the mean position of artifact-free examples along
    it (:func:`artifact_direction`), the new model computes ``a - v (v . a - z)`` after ``layer`` and
    continues unchanged: whatever the artifact adds along ``v`` is gone, everything orthogonal to it
    stays. No retraining; a handful of examples with and without the artifact (any classes) is enough.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential model (nested ones are fine); copied, never changed.
    layer : str or keras layer
        Hidden layer whose output is projected (e.g. ``"relu3"`` or ``"dense"`` of the Fashion CNN).
    with_artifact, without_artifact : array-like, (N1, H, W, C) and (N2, H, W, C)
        Examples carrying the artifact and examples without it (ideally the same images with and
        without it, so that the direction is the artifact's alone).
    direction : {"mean_difference", "classifier"}
        How the direction is found; see :func:`artifact_direction`.
    batch_size : int
        Images per forward pass when reading activations.

    Returns
    -------
    keras.Model
        New model with the same inputs and outputs and a non-trainable ``ArtifactProjection`` layer
        (``"<layer>_pclarc"``) after ``layer``; its other weights are copies of ``model``'s.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model; got {type(model).__name__}.")
    _keras.check_layerwise(model, "pclarc")
    batch_size = positive_int(batch_size, "batch_size")
    name = layer if isinstance(layer, str) else getattr(layer, "name", None)
    target = _keras.find_layer(model, name)
    v, z = artifact_direction(model, target, with_artifact, without_artifact, direction=direction,
                              batch_size=batch_size)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copied_target = _keras.find_layer(copy, name)
    taken = set(_keras.all_layer_names(model))
    projection_name = next(candidate for candidate in (f"{name}_pclarc", *(f"{name}_pclarc_{i}" for i in range(2, 10_000)))
                           if candidate not in taken)  # a second projection on the same layer gets its own name
    projection = ArtifactProjection(v, z, name=projection_name)

    def insert(current, value):
        return projection(value) if current is copied_target else value

    inputs = keras.Input(model.input_shape[1:], name=model.inputs[0].name if model.inputs else None)
    outputs = _keras.run_layers(copy, inputs, insert)
    return keras.Model(inputs, outputs, name=f"{model.name}_pclarc")


def _projection_layer_class():
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="introspect")
    class ArtifactProjection(keras.layers.Layer):
        """``a - v (v . a - z)`` on flattened activations: the artifact direction ``v`` set to the clean value ``z``."""

        def __init__(self, direction, reference, **kwargs):
            kwargs["trainable"] = False
            super().__init__(**kwargs)
            self.direction_values = np.asarray(direction, np.float32).ravel()
            self.reference = float(reference)

        def call(self, inputs):
            flat = tf.reshape(inputs, (tf.shape(inputs)[0], -1))
            v = tf.constant(self.direction_values)
            shift = tf.tensordot(flat, v, axes=1)[:, None] - self.reference
            return tf.reshape(flat - shift * v[None, :], tf.shape(inputs))

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "direction": self.direction_values.tolist(),
                    "reference": self.reference}

    return ArtifactProjection


ArtifactProjection = _projection_layer_class()
