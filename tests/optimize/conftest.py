"""Fixtures of the optimisation tests: narrow untrained CNNs (tests/helpers.py) and a few real images."""
import pytest

from helpers import tiny_fashion_cnn
from introspect.data import load_fashion_mnist


@pytest.fixture(scope="session")
def tiny():
    """The shipped architecture at width 4, untrained: same layer names, a fraction of the cost."""
    return tiny_fashion_cnn()


@pytest.fixture(scope="session")
def tiny_rgb():
    """The same architecture for odd-sized RGB images (15 x 17 x 3)."""
    return tiny_fashion_cnn(input_shape=(15, 17, 3), seed=1)


@pytest.fixture(scope="session")
def fashion_images():
    (x, y), _ = load_fashion_mnist(limit=20, seed=0)
    return x, y
