"""Shared fixtures: Fashion-MNIST data and a tiny trained CNN, for the metrics and studies that train or randomise models."""
import pytest

from introspect import models
from introspect.data import load_fashion_mnist


def _tiny_cnn():
    return models.build_fashion_cnn(width=4)


@pytest.fixture(scope="session")
def tiny_cnn():
    """A builder of the package's Fashion CNN at width 4: the architecture the sanity checks and ROAR retrain."""
    return _tiny_cnn


@pytest.fixture(scope="session")
def fashion():
    (x, y), (x_test, y_test) = load_fashion_mnist(limit=400, seed=0)
    return x, y, x_test[:100], y_test[:100]


@pytest.fixture(scope="session")
def trained(fashion):
    """``set_seed(0); tiny_cnn(); train(..., seed=0, epochs=2)`` on the 400 training images."""
    x, y, _, _ = fashion
    models.set_seed(0)
    model = _tiny_cnn()
    models.train(model, x, y, epochs=2, seed=0, verbose=0)
    return model
