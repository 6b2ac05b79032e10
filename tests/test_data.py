import gzip
import shutil

import numpy as np
import pytest

from introspect import data


@pytest.fixture(scope="module")
def fashion():
    return data.load_fashion_mnist()


def test_real_files_have_the_documented_shapes_ranges_and_balance(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.array_equal(np.bincount(y_train), np.full(10, 6000))
    assert np.array_equal(np.bincount(y_test), np.full(10, 1000))
    assert len(data.CLASS_NAMES) == 10


def test_limit_takes_a_stratified_seeded_subset(fashion):
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(limit=200, seed=3)
    assert len(x_train) == len(x_test) == 200
    assert np.array_equal(np.bincount(y_train), np.full(10, 20))
    again = data.load_fashion_mnist(limit=200, seed=3)[0][0]
    other = data.load_fashion_mnist(limit=200, seed=4)[0][0]
    assert np.array_equal(x_train, again) and not np.array_equal(x_train, other)
    # the subset is made of real rows of the full set, labels kept with their images
    keep = data.stratified_indices(fashion[0][1], 200, seed=3)
    assert np.array_equal(x_train, fashion[0][0][keep]) and np.array_equal(y_train, fashion[0][1][keep])


@pytest.mark.parametrize("limit", [0, 5, -1, 2.5, True])
def test_bad_limit_names_the_argument(limit):
    with pytest.raises(ValueError, match="`limit`"):
        data.load_fashion_mnist(limit=limit)


def _copy_dataset(target):
    source = data.find_fashion_mnist()
    target.mkdir(parents=True, exist_ok=True)
    for name in data.SHA256:
        shutil.copy(source / name, target / name)


def test_corrupted_copy_raises_the_checksum_error(tmp_path, monkeypatch):
    _copy_dataset(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one flipped label: a silently wrong data set
    labels.write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setenv("INTROSPECT_DATA", str(tmp_path))
    with pytest.raises(data.ChecksumError, match="t10k-labels-idx1-ubyte.gz is corrupt"):
        data.load_fashion_mnist()


def test_intact_copy_in_introspect_data_is_used_first(tmp_path, monkeypatch):
    _copy_dataset(tmp_path)
    monkeypatch.setenv("INTROSPECT_DATA", str(tmp_path))
    assert data.find_fashion_mnist() == tmp_path


def test_no_source_raises_not_found_naming_every_place_and_both_remedies(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("INTROSPECT_DATA", str(empty))
    monkeypatch.setattr(data, "search_path", lambda: [empty, tmp_path / "nowhere"])
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.load_fashion_mnist()
    message = str(error.value)
    assert str(empty) in message and str(tmp_path / "nowhere") in message
    assert "apt-get install dataset-fashion-mnist" in message and "download=True" in message


def test_default_search_order():
    places = data.search_path()
    assert places[-1].as_posix() == "/usr/share/datasets/fashion-mnist"
    assert places[-2].parts[-3:] == (".keras", "datasets", "fashion-mnist")
    assert places[-3].parts[-2:] == ("data", "fashion-mnist")
