"""LRP against zennit 1.0.0 (PyTorch) on twin networks with copied weights; skipped without torch and zennit.

A plain CNN with every rule; a DenseNet-style block (Concatenate, unfolded BatchNorms: zennit's
``Pass``) and an EfficientNet-style block (input normalisation with the zB bounds mapped by hand for
zennit, swish, a squeeze-excite gate) with the epsilon rule and the composite. zennit has no rule for a
gate: the twin's gate is a module with a hook giving the gated input all the relevance, which is what
``introspect.saliency.lrp`` does; everything else is zennit's own rules and canonizers.
"""
import numpy as np
import pytest

import keras
from helpers import import_zennit
from introspect.saliency.lrp import lrp


def images_of(model, n=5, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, *model.input_shape[1:])).astype(np.float32)


def relative(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ---------------------------------------------------------------------------------------------
# zennit and the weight copies


def _import_zennit():
    zennit = import_zennit()
    if zennit is None:
        pytest.skip("torch or zennit is not installed (requirements-dev.txt)")
    return zennit


def _twin_cnns(seed: int = 0):
    """The same CNN in Keras and in torch (conv-BN-ReLU-maxpool, conv-ReLU-avgpool, two dense layers)."""
    import torch

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn1")(x))
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(2)(x))
    x = keras.layers.Dense(10, activation="relu", name="dense")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    rng = np.random.default_rng(seed)
    model.get_layer("bn1").set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 0.3, 4), rng.normal(0, 0.3, 4),
                                        rng.uniform(0.5, 2, 4)])
    for name in ("conv1", "conv2", "dense", "logits"):
        kernel, bias = model.get_layer(name).get_weights()
        model.get_layer(name).set_weights([kernel, rng.normal(0, 0.1, bias.shape)])

    class ChannelsLast(torch.nn.Module):  # so that Flatten orders features as Keras does
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    twin = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4, eps=1e-3), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), torch.nn.AvgPool2d(2), ChannelsLast(),
        torch.nn.Flatten(), torch.nn.Linear(24, 10), torch.nn.ReLU(), torch.nn.Linear(10, 3)).eval()

    def copy(module, kernel, bias, layout):
        module.weight.data = torch.tensor(kernel.transpose(layout).copy())
        module.bias.data = torch.tensor(bias)

    for index, name in ((0, "conv1"), (4, "conv2")):
        copy(twin[index], *model.get_layer(name).get_weights(), (3, 2, 0, 1))
    for index, name in ((9, "dense"), (11, "logits")):
        copy(twin[index], *model.get_layer(name).get_weights(), (1, 0))
    gamma, beta, mean, var = (torch.tensor(w) for w in model.get_layer("bn1").get_weights())
    twin[1].weight.data, twin[1].bias.data, twin[1].running_mean.data, twin[1].running_var.data = gamma, beta, mean, var
    return model, twin


@pytest.mark.parametrize("rule", ["epsilon", "zplus", "alpha1_beta0", "alpha2_beta1", "composite_zbox"])
def test_matches_zennit(rule):
    zennit = _import_zennit()
    import torch
    from zennit.attribution import Gradient
    from zennit.canonizers import SequentialMergeBatchNorm
    from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite, layer_map_base
    from zennit.rules import AlphaBeta, Epsilon, ZBox, ZPlus
    from zennit.types import Convolution

    model, twin = _twin_cnns()
    images = images_of(model, 4, seed=3)
    targets = np.array([0, 1, 2, 1], np.int32)
    torch_rules = {"epsilon": Epsilon(0.1), "zplus": ZPlus(), "alpha1_beta0": AlphaBeta(1.0, 0.0),
                   "alpha2_beta1": AlphaBeta(2.0, 1.0)}
    ours = {"epsilon": dict(rule="epsilon", epsilon=0.1), "zplus": dict(rule="zplus"),
            "alpha1_beta0": dict(rule="alpha_beta", alpha=1.0, beta=0.0),
            "alpha2_beta1": dict(rule="alpha_beta", alpha=2.0, beta=1.0),
            "composite_zbox": dict(rule="composite", epsilon=0.1, input_rule="zbox")}[rule]
    canonizers = [SequentialMergeBatchNorm()]
    if rule == "composite_zbox":
        layer_map = layer_map_base() + [(Convolution, ZPlus()), (torch.nn.Linear, Epsilon(0.1))]
        composite = SpecialFirstLayerMapComposite(layer_map, [(Convolution, ZBox(0.0, 1.0))], canonizers=canonizers)
    else:
        composite = LayerMapComposite(layer_map_base() + [((Convolution, torch.nn.Linear), torch_rules[rule])],
                                      canonizers=canonizers)
    x = torch.tensor(images.transpose(0, 3, 1, 2).copy())
    with Gradient(model=twin, composite=composite) as attributor:
        logits, relevance = attributor(x, torch.eye(3)[targets] * twin(x).detach())
    expected = relevance.detach().numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(logits.detach().numpy(), model(images, training=False).numpy(), atol=1e-5)
    difference = relative(lrp(model, images, targets, **ours), expected)
    print(f"zennit {zennit.__version__ if hasattr(zennit, '__version__') else ''} {rule}: max relative {difference:.2e}")
    assert difference < 1e-4


# ---------------------------------------------------------------------------------------------
# keras.applications' constructs: a DenseNet-style block and an EfficientNet-style block


def _randomise(model, seed: int):
    """Biases ~ N(0, 0.1) and BatchNorm statistics far from the identity, so that every shift matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(0, 0.3, c), rng.normal(0, 0.3, c),
                               rng.uniform(0.5, 2, c)])
        elif getattr(layer, "use_bias", False):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])


def _copy_weights(model, twin):
    """Copy every Keras layer's weights to the torch module of the same name (conv, depthwise, dense, BN)."""
    import torch

    modules = dict(twin.named_modules())
    for layer in model.layers:
        if layer.name not in modules:
            continue
        module, weights = modules[layer.name], [torch.tensor(w) for w in layer.get_weights()]
        if isinstance(layer, keras.layers.BatchNormalization):
            module.weight.data, module.bias.data, module.running_mean.data, module.running_var.data = weights
            continue
        layout = {keras.layers.DepthwiseConv2D: (2, 3, 0, 1), keras.layers.Conv2D: (3, 2, 0, 1),
                  keras.layers.Dense: (1, 0)}[type(layer)]
        module.weight.data = weights[0].permute(*layout).contiguous()
        module.bias.data = weights[1]


def _densenet_twins(seed: int = 0):
    """A stem and one DenseNet layer (BN-ReLU-conv1x1-BN-ReLU-conv3x3, concatenated), a transition, GAP, Dense."""
    import torch

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", name="conv0")(inputs)
    x = layers.MaxPooling2D(2)(layers.ReLU()(layers.BatchNormalization(name="bn0")(x)))
    new = layers.Conv2D(8, 1, name="c1")(layers.ReLU()(layers.BatchNormalization(name="n1")(x)))
    new = layers.Conv2D(4, 3, padding="same", name="c2")(layers.ReLU()(layers.BatchNormalization(name="b1")(new)))
    x = layers.Concatenate()([x, new])
    x = layers.Conv2D(6, 1, name="c3")(layers.ReLU()(layers.BatchNormalization(name="t")(x)))
    x = layers.ReLU()(layers.BatchNormalization(name="final")(layers.AveragePooling2D(2)(x)))
    model = keras.Model(inputs, layers.Dense(3, name="logits")(layers.GlobalAveragePooling2D()(x)))
    _randomise(model, seed)
    nn = torch.nn

    class DenseNetTwin(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv0, self.bn0, self.relu0, self.pool0 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8, 1e-3), \
                nn.ReLU(), nn.MaxPool2d(2)
            self.n1, self.r1, self.c1 = nn.BatchNorm2d(8, 1e-3), nn.ReLU(), nn.Conv2d(8, 8, 1)
            self.b1, self.r2, self.c2 = nn.BatchNorm2d(8, 1e-3), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1)
            self.t, self.r3, self.c3, self.avg = nn.BatchNorm2d(12, 1e-3), nn.ReLU(), nn.Conv2d(12, 6, 1), \
                nn.AvgPool2d(2)
            self.final, self.r4, self.gap, self.logits = nn.BatchNorm2d(6, 1e-3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), \
                nn.Linear(6, 3)

        def forward(self, x):
            x = self.pool0(self.relu0(self.bn0(self.conv0(x))))
            new = self.c2(self.r2(self.b1(self.c1(self.r1(self.n1(x))))))
            x = self.avg(self.c3(self.r3(self.t(torch.cat([x, new], dim=1)))))
            return self.logits(self.gap(self.r4(self.final(x))).flatten(1))

    twin = DenseNetTwin().eval()
    _copy_weights(model, twin)
    return model, twin, [(["conv0"], "bn0"), (["c1"], "b1")], {}


MEAN, VARIANCE = np.array([0.1, -0.2, 0.3], np.float32), np.array([0.5, 2.0, 1.5], np.float32)


def _efficientnet_twins(seed: int = 0):
    """Rescaling and Normalization, a swish stem, a depthwise conv, a squeeze-excite gate, a residual Add."""
    import torch
    from zennit.layer import Sum

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inputs = keras.Input((10, 10, 3))
    x = layers.Normalization(mean=MEAN, variance=VARIANCE)(layers.Rescaling(2.0, offset=-1.0)(inputs))
    x = layers.Conv2D(8, 3, strides=2, name="stem")(layers.ZeroPadding2D(1)(x))
    skip = x = layers.Activation("swish")(layers.BatchNormalization(name="stem_bn")(x))
    x = layers.Activation("swish")(layers.BatchNormalization(name="dw_bn")(
        layers.DepthwiseConv2D(3, padding="same", name="dw")(x)))
    gate = layers.Reshape((1, 1, 8))(layers.GlobalAveragePooling2D()(x))
    gate = layers.Conv2D(2, 1, activation="swish", name="se_reduce")(gate)
    x = layers.Multiply()([x, layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(gate)])
    x = layers.BatchNormalization(name="project_bn")(layers.Conv2D(8, 1, name="project")(x))
    x = layers.GlobalAveragePooling2D()(layers.Add()([x, skip]))
    model = keras.Model(inputs, layers.Dense(3, name="logits")(x))
    _randomise(model, seed)
    nn = torch.nn
    mean, std = (torch.tensor(v).reshape(1, 3, 1, 1) for v in (MEAN, np.sqrt(VARIANCE)))

    class Normalize(nn.Module):
        def forward(self, x):
            return (2.0 * x - 1.0 - mean) / std

    class Gate(nn.Module):
        def forward(self, x, gate):
            return x * gate

    class EfficientNetTwin(nn.Module):
        def __init__(self):
            super().__init__()
            self.normalize = Normalize()
            self.stem, self.stem_bn, self.stem_act = nn.Conv2d(3, 8, 3, stride=2, padding=1), \
                nn.BatchNorm2d(8, 1e-3), nn.SiLU()
            self.dw, self.dw_bn, self.dw_act = nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8, 1e-3), \
                nn.SiLU()
            self.pool, self.se_reduce, self.se_act = nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.SiLU()
            self.se_expand, self.se_sigmoid, self.gate = nn.Conv2d(2, 8, 1), nn.Sigmoid(), Gate()
            self.project, self.project_bn, self.sum = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8, 1e-3), Sum()
            self.gap, self.logits = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 3)

        def forward(self, x):
            skip = x = self.stem_act(self.stem_bn(self.stem(self.normalize(x))))
            x = self.dw_act(self.dw_bn(self.dw(x)))
            gate = self.se_sigmoid(self.se_expand(self.se_act(self.se_reduce(self.pool(x)))))
            x = self.project_bn(self.project(self.gate(x, gate)))
            return self.logits(self.gap(self.sum(torch.stack([x, skip], dim=-1))).flatten(1))

    twin = EfficientNetTwin().eval()
    _copy_weights(model, twin)
    from zennit.core import Hook
    from zennit.rules import Pass

    class GatedInputTakesAll(Hook):
        def backward(self, module, grad_input, grad_output):
            return grad_output[0], torch.zeros_like(grad_input[1])

    # zB bounds of the pixels [0, 1] mapped through the normalisation by hand, as zennit's ZBox asks.
    bounds = ((2.0 * 0.0 - 1.0 - mean) / std, (2.0 * 1.0 - 1.0 - mean) / std)
    return model, twin, [(["stem"], "stem_bn"), (["dw"], "dw_bn"), (["project"], "project_bn")], \
        {"extra": [(Normalize, Pass()), (Gate, GatedInputTakesAll())], "bounds": bounds}


@pytest.mark.parametrize("rule", ["epsilon", "composite_zbox"])
@pytest.mark.parametrize("family", ["densenet", "efficientnet"])
def test_family_block_matches_zennit(family, rule):
    _import_zennit()
    import torch
    from zennit.attribution import Gradient
    from zennit.canonizers import NamedMergeBatchNorm
    from zennit.composites import LayerMapComposite, SpecialFirstLayerMapComposite, layer_map_base
    from zennit.rules import Epsilon, ZBox, ZPlus
    from zennit.types import Convolution

    model, twin, merges, extras = {"densenet": _densenet_twins, "efficientnet": _efficientnet_twins}[family]()
    images = images_of(model, 4, seed=3)
    targets = np.array([0, 1, 2, 1], np.int32)
    base = layer_map_base() + extras.get("extra", [])
    canonizers = [NamedMergeBatchNorm(merges)]
    if rule == "epsilon":
        composite = LayerMapComposite(base + [((Convolution, torch.nn.Linear), Epsilon(0.1))], canonizers=canonizers)
        ours = lrp(model, images, targets, rule="epsilon", epsilon=0.1)
    else:
        low, high = extras.get("bounds", (0.0, 1.0))
        composite = SpecialFirstLayerMapComposite(base + [(Convolution, ZPlus()), (torch.nn.Linear, Epsilon(0.1))],
                                                  [(Convolution, ZBox(low, high))], canonizers=canonizers)
        ours = lrp(model, images, targets, rule="composite", epsilon=0.1)
    x = torch.tensor(images.transpose(0, 3, 1, 2).copy())
    with Gradient(model=twin, composite=composite) as attributor:
        logits, relevance = attributor(x, torch.eye(3)[targets] * twin(x).detach())
    np.testing.assert_allclose(logits.detach().numpy(), model(images, training=False).numpy(), atol=1e-5)
    expected = relevance.detach().numpy().transpose(0, 2, 3, 1)
    difference = relative(ours, expected)
    print(f"zennit {family} {rule}: max relative difference {difference:.2e}")
    assert difference < 1e-4
