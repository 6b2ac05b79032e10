"""ProtoPNet's three training stages (arXiv:1806.10574, Sec. 2.2), seeded and with a deterministic data order.

1. :func:`warm_up`: only the add-on layers and the prototypes learn (the last layer stays at +1 / -0.5;
   the features' BatchNorm statistics still follow the batches);
   :func:`joint`: the features learn too. Both minimise cross-entropy + 0.8 cluster cost - 0.08
   separation cost.
2. :func:`~.push.push`: each prototype becomes its nearest training patch of its class.
3. :func:`last_layer`: with everything else frozen, the last layer alone minimises cross-entropy
   + 1e-4 |wrong-class connections|_1, a convex problem, solved on the cached similarities.

:func:`train_protopnet` runs the schedule from a fresh model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import _progress, models
from .._validation import as_class_indices, as_images, non_negative_int, positive_int, positive_number
from .protopnet import LATENT, LOGITS, PROTOTYPES, build_protopnet, prototype_classes, trainer_model
from .push import PushRecord, push


#: Each stage shuffles the data with its own stream of the seed's generator.
_ORDER_STREAM = {"warm-up": 7, "joint": 5, "last layer": 3}


@dataclass(frozen=True)
class Schedule:
    """Epochs, batch size, learning rates and loss weights of :func:`train_protopnet`.

    The loss weights are the paper's (cluster 0.8, separation -0.08, L1 1e-4 on wrong-class
    connections). The paper's features are pre-trained and learn at 1e-4; these are trained from
    scratch and learn at 1e-3. Joint learning rates follow a cosine decay to 0.
    """

    warm_epochs: int = 1
    joint_epochs: int = 10
    last_layer_epochs: int = 20
    batch_size: int = 128
    features_lr: float = 1e-3
    add_on_lr: float = 3e-3
    prototypes_lr: float = 3e-3
    last_layer_lr: float = 1e-3
    cluster: float = 0.8
    separation: float = 0.08
    l1: float = 1e-4

    def __post_init__(self):
        for name in ("warm_epochs", "joint_epochs", "last_layer_epochs"):
            non_negative_int(getattr(self, name), name)
        positive_int(self.batch_size, "batch_size")
        for name in ("features_lr", "add_on_lr", "prototypes_lr", "last_layer_lr"):
            positive_number(getattr(self, name), name)
        for name in ("cluster", "separation", "l1"):
            positive_number(getattr(self, name), name, allow_zero=True)


@dataclass
class TrainedProtoPNet:
    """What :func:`train_protopnet` returns: the model, where its prototypes were pushed, and per-epoch logs."""

    model: object
    push: PushRecord
    history: list = field(default_factory=list)
    seconds: float = 0.0


def _groups(model) -> dict:
    layers = {layer.name: layer for layer in model.layers}
    names = [layer.name for layer in model.layers]
    features = [v for name in names[:names.index("add_on1")] for v in layers[name].trainable_variables]
    add_on = layers["add_on1"].trainable_variables + layers[LATENT].trainable_variables
    return {"features": features, "add_on": add_on, "prototypes": [layers[PROTOTYPES].prototypes]}


def _own_class_mask(model):
    classes = prototype_classes(model)
    return np.eye(int(model.output.shape[-1]), dtype=bool)[:, classes]  # (K, P): prototype j is of class k


def protopnet_losses(logits, min_distances, labels, own, schedule: Schedule):
    """Cross-entropy, cluster and separation costs of a batch (tensors); ``own`` is the ``(K, P)`` class mask.

    Cluster: the mean over images of the smallest distance to a prototype of the image's class;
    separation: the same to a prototype of another class (the loss subtracts it).
    """
    import tensorflow as tf

    mine = tf.gather(own, labels)
    inf = tf.fill(tf.shape(min_distances), np.float32(np.inf))
    cluster = tf.reduce_mean(tf.reduce_min(tf.where(mine, min_distances, inf), axis=1))
    separation = tf.reduce_mean(tf.reduce_min(tf.where(mine, inf, min_distances), axis=1))
    cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    total = cross_entropy + schedule.cluster * cluster - schedule.separation * separation
    return total, cross_entropy, cluster, separation


def _stage(model, x, y, *, epochs: int, rates: dict, seed: int, schedule: Schedule, name: str, progress: bool,
           decay: bool) -> list:
    """Train the variable groups in ``rates`` (group -> learning rate) for ``epochs``; one log row per epoch."""
    import keras
    import tensorflow as tf

    if epochs == 0:
        return []
    steps = -(-len(x) // schedule.batch_size)
    groups = _groups(model)
    variables = [groups[g] for g in rates]
    optimizers = [keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, epochs * steps) if decay else lr)
                  for lr in rates.values()]
    for optimizer, group in zip(optimizers, variables):
        optimizer.build(group)
    net, own = trainer_model(model), tf.constant(_own_class_mask(model))

    @tf.function(reduce_retracing=True)
    def step(images, labels):
        with tf.GradientTape() as tape:
            logits, min_distances = net(images, training=True)
            losses = protopnet_losses(logits, min_distances, labels, own, schedule)
        gradients = tape.gradient(losses[0], [v for group in variables for v in group])
        start = 0
        for optimizer, group in zip(optimizers, variables):
            optimizer.apply_gradients(zip(gradients[start:start + len(group)], group))
            start += len(group)
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=1) == labels, tf.float32))
        return tf.stack([*losses, correct])

    rng = np.random.default_rng([seed, _ORDER_STREAM[name]])
    log = []
    with _progress.bar(epochs * steps, name, progress, unit="step") as shown:
        for epoch in range(epochs):
            order, sums = rng.permutation(len(x)), np.zeros(5)
            for start in range(0, len(x), schedule.batch_size):
                batch = order[start:start + schedule.batch_size]
                out = step(tf.constant(x[batch]), tf.constant(y[batch]))
                sums += np.asarray(out) * np.array([len(batch)] * 4 + [1])
                shown.update()
            log.append({"stage": name, "epoch": epoch, **dict(zip(
                ("loss", "cross_entropy", "cluster", "separation", "accuracy"), sums / len(x)))})
    return log


def _check(model, x, y):
    x = as_images(x, "x", model=model)
    return x, as_class_indices(y, len(x), int(model.output.shape[-1]), "y")


def warm_up(model, x, y, *, epochs: int = 1, seed: int = 0, schedule: Schedule = Schedule(),
            progress: bool = True) -> list:
    """Stage 1a: train only the add-on layers and the prototypes (features and last layer fixed), in place."""
    x, y = _check(model, x, y)
    rates = {"add_on": schedule.add_on_lr, "prototypes": schedule.prototypes_lr}
    return _stage(model, x, y, epochs=non_negative_int(epochs, "epochs"), rates=rates, seed=seed,
                  schedule=schedule, name="warm-up", progress=progress, decay=False)


def joint(model, x, y, *, epochs: int = 10, seed: int = 0, schedule: Schedule = Schedule(),
          progress: bool = True) -> list:
    """Stage 1b: train features, add-on layers and prototypes together (the last layer fixed), in place."""
    x, y = _check(model, x, y)
    rates = {"features": schedule.features_lr, "add_on": schedule.add_on_lr, "prototypes": schedule.prototypes_lr}
    return _stage(model, x, y, epochs=non_negative_int(epochs, "epochs"), rates=rates, seed=seed,
                  schedule=schedule, name="joint", progress=progress, decay=True)


def last_layer(model, x, y, *, epochs: int = 20, seed: int = 0, schedule: Schedule = Schedule(),
               progress: bool = True) -> list:
    """Stage 3: the last layer alone, cross-entropy + ``l1`` x the L1 norm of its wrong-class connections, in place.

    Everything before the last layer is frozen, so the similarities ``(N, P)`` are computed once
    and the convex problem is solved on them with Adam (the same minimiser as training end to end).
    """
    import keras
    import tensorflow as tf

    x, y = _check(model, x, y)
    epochs = non_negative_int(epochs, "epochs")
    similarity = keras.Model(model.input, model.get_layer("similarity").output)
    features = np.concatenate([np.asarray(similarity(x[i:i + 512], training=False)) for i in range(0, len(x), 512)])
    kernel = model.get_layer(LOGITS).kernel
    wrong = tf.constant(~_own_class_mask(model).T, dtype=tf.float32)  # (P, K)
    optimizer = keras.optimizers.Adam(schedule.last_layer_lr)
    optimizer.build([kernel])

    @tf.function(reduce_retracing=True)
    def step(s, labels):
        with tf.GradientTape() as tape:
            logits = tf.matmul(s, kernel)
            cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
            loss = cross_entropy + schedule.l1 * tf.reduce_sum(tf.abs(kernel * wrong))
        optimizer.apply_gradients([(tape.gradient(loss, kernel), kernel)])
        return loss

    rng = np.random.default_rng([seed, _ORDER_STREAM["last layer"]])
    log = []
    for epoch in range(epochs):
        order, total = rng.permutation(len(x)), 0.0
        for start in range(0, len(x), schedule.batch_size):
            batch = order[start:start + schedule.batch_size]
            total += float(step(tf.constant(features[batch]), tf.constant(y[batch]))) * len(batch)
        accuracy = float(np.mean((features @ np.asarray(kernel)).argmax(axis=1) == y))
        log.append({"stage": "last layer", "epoch": epoch, "loss": total / len(x), "accuracy": accuracy})
    return log


def train_protopnet(x, y, *, seed: int = 0, schedule: Schedule | None = None, progress: bool = True,
                    **builder) -> TrainedProtoPNet:
    """Build a ProtoPNet (:func:`~.protopnet.build_protopnet`) and train it in the paper's three stages.

    Warm-up, joint training, push onto the training images ``x``, last-layer optimisation. Seeded:
    the same ``seed`` gives identical weights on one machine (TensorFlow's op determinism is on).

    Parameters
    ----------
    x : (N, H, W, C) float array in [0, 1]
    y : (N,) int array
    seed : int
        Seeds the initial weights and the order of the batches.
    schedule : Schedule, optional
        Epochs, batch size, learning rates, loss weights (default :class:`Schedule()`).
    **builder
        Passed to :func:`~.protopnet.build_protopnet` (``prototypes_per_class``, ``prototype_dim``, ``width``).

    Returns
    -------
    TrainedProtoPNet
        ``model`` (outputs logits), ``push`` (:class:`~.push.PushRecord` indexing ``x``), ``history``
        (one dict per epoch and stage), ``seconds``.
    """
    schedule = Schedule() if schedule is None else schedule
    if not isinstance(schedule, Schedule):
        raise ValueError(f"`schedule` must be a transparent.Schedule; got {type(schedule).__name__}.")
    seed = non_negative_int(seed, "seed")
    x = as_images(x, "x")
    start = time.perf_counter()
    models.set_seed(seed)
    model = build_protopnet(x.shape[1:], int(np.max(as_class_indices(y, len(x), None, "y"))) + 1, seed=seed,
                            **builder)
    history = warm_up(model, x, y, epochs=schedule.warm_epochs, seed=seed, schedule=schedule, progress=progress)
    history += joint(model, x, y, epochs=schedule.joint_epochs, seed=seed, schedule=schedule, progress=progress)
    record = push(model, x, y, progress=progress)
    history += last_layer(model, x, y, epochs=schedule.last_layer_epochs, seed=seed, schedule=schedule,
                          progress=progress)
    return TrainedProtoPNet(model, record, history, time.perf_counter() - start)

