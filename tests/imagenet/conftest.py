import pytest

from introspect import imagenet, models


@pytest.fixture(scope="session")
def model():
    return models.load_pretrained("efficientnet_lite0")


@pytest.fixture(scope="session")
def photos():
    return imagenet.load_photos()


@pytest.fixture(scope="session")
def judge():
    return imagenet.load_efficientnet_lite(2)
