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


# --- where the data comes from: offline copies first, then the download (never the real network here) ---

@pytest.fixture
def fake_download(tmp_path, monkeypatch):
    """Replace the network fetch with a copy from the real offline files, recording each file asked for;
    point the download folder at a temporary one."""
    source = data.find_fashion_mnist()
    fetched = []

    def fetch(url, destination, sha256):
        assert url == data.KERAS_ORIGIN + destination.name and sha256 == data.SHA256[destination.name]
        fetched.append(destination.name)
        shutil.copy(source / destination.name, destination)

    monkeypatch.setattr(data, "_fetch", fetch)
    monkeypatch.setattr(data, "DOWNLOAD_DIR", tmp_path / "data" / "fashion-mnist")
    return fetched


def test_an_offline_copy_is_used_and_nothing_is_downloaded(tmp_path, monkeypatch, fake_download):
    copy = tmp_path / "debian"
    _copy_dataset(copy)
    monkeypatch.setattr(data, "search_path", lambda: [tmp_path / "empty", data.DOWNLOAD_DIR, copy])
    assert data.find_fashion_mnist(download=True) == copy
    assert fake_download == []


def test_without_an_offline_copy_make_data_downloads_verifies_and_says_so(tmp_path, monkeypatch, capsys,
                                                                           fake_download):
    monkeypatch.setattr(data, "search_path", lambda: [tmp_path / "empty", data.DOWNLOAD_DIR])
    assert data.main([]) == 0
    assert sorted(fake_download) == sorted(data.SHA256)
    out = capsys.readouterr().out
    assert "no offline copy found" in out and "SHA-256 digests verified" in out
    assert str(data.DOWNLOAD_DIR) in out
    # the download folder is searched next time: found offline, not fetched again
    fake_download.clear()
    assert data.find_fashion_mnist(download=True) == data.DOWNLOAD_DIR
    assert fake_download == []
    assert data.load_fashion_mnist(limit=20)[1][0].shape == (20, 28, 28, 1)


def test_an_interrupted_download_resumes_with_the_missing_files(tmp_path, fake_download):
    target = data.DOWNLOAD_DIR
    target.mkdir(parents=True)
    source = data.find_fashion_mnist()
    shutil.copy(source / "train-labels-idx1-ubyte.gz", target)
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(b"half a file")
    assert data.download_fashion_mnist(target) == target
    assert sorted(fake_download) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                                     "train-images-idx3-ubyte.gz"]


def test_offline_without_a_copy_the_error_names_every_place_the_package_and_the_download(tmp_path, monkeypatch,
                                                                                        capsys):
    def no_network(url, destination, sha256):
        raise Exception(f"URL fetch failure on {url}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_fetch", no_network)
    monkeypatch.setattr(data, "DOWNLOAD_DIR", tmp_path / "data" / "fashion-mnist")
    places = [tmp_path / "env", data.DOWNLOAD_DIR, tmp_path / "keras", tmp_path / "usr-share"]
    monkeypatch.setattr(data, "search_path", lambda: places)
    with pytest.raises(data.DatasetNotFoundError) as error:
        data.find_fashion_mnist(download=True)
    message = str(error.value)
    assert all(str(place) in message for place in places)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert f"The download from {data.KERAS_ORIGIN}" in message and "name resolution" in message
    # `make data` prints the same message without a traceback and fails
    assert data.main([]) == 1
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def test_offline_flag_never_downloads(tmp_path, monkeypatch, capsys, fake_download):
    monkeypatch.setattr(data, "search_path", lambda: [tmp_path / "empty"])
    assert data.main(["--offline"]) == 1
    assert fake_download == []
    assert "No download was attempted" in capsys.readouterr().err


def test_a_corrupt_download_raises_the_checksum_error(tmp_path, monkeypatch):
    def garbage(url, destination, sha256):
        destination.write_bytes(b"not the data")

    monkeypatch.setattr(data, "_fetch", garbage)
    monkeypatch.setattr(data, "DOWNLOAD_DIR", tmp_path / "data" / "fashion-mnist")
    monkeypatch.setattr(data, "search_path", lambda: [tmp_path / "empty"])
    with pytest.raises(data.ChecksumError, match="is corrupt"):
        data.find_fashion_mnist(download=True)


@pytest.mark.parametrize("download", ["yes", 1, None])
def test_bad_download_flag_names_the_argument(download):
    with pytest.raises(ValueError, match="`download`"):
        data.find_fashion_mnist(download=download)
    with pytest.raises(ValueError, match="`download`"):
        data.load_fashion_mnist(download=download)


def test_bad_download_target_names_the_argument(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(ValueError, match="`target`"):
        data.download_fashion_mnist(a_file)
    with pytest.raises(ValueError, match="`target`"):
        data.download_fashion_mnist(3)


def test_downloads_are_git_ignored():
    lines = (data.REPO_ROOT / ".gitignore").read_text().splitlines()
    assert "/data/fashion-mnist/" in lines
