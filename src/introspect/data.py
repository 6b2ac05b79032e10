"""Fashion-MNIST, loaded offline-first and verified against known SHA-256 digests.

The loader never returns a half-loaded array: either all four idx files are found in
one place and match their digests, or it raises an error that names every place it
looked and both ways to get the data.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: SHA-256 of the four files, identical to the ones `keras.datasets.fashion_mnist` downloads.
SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}

REPO_ROOT = Path(__file__).resolve().parents[2]

HOW_TO_GET = (
    "Get the data either way:\n"
    "  * offline, from Debian: `sudo apt-get install dataset-fashion-mnist` "
    "(files land in /usr/share/datasets/fashion-mnist/), or\n"
    "  * online: `load_fashion_mnist(download=True)` (uses keras.datasets, ~30 MB), or copy the four "
    "idx .gz files into data/fashion-mnist/ or a folder named by $INTROSPECT_DATA."
)


class DatasetNotFoundError(FileNotFoundError):
    """No searched place holds all four Fashion-MNIST files."""


class ChecksumError(ValueError):
    """A Fashion-MNIST file exists but its SHA-256 digest is wrong."""


def search_path() -> list[Path]:
    """Folders searched for the four idx files, in order of preference."""
    places = []
    if os.environ.get("INTROSPECT_DATA"):
        places.append(Path(os.environ["INTROSPECT_DATA"]))
    places += [
        REPO_ROOT / "data" / "fashion-mnist",
        Path.home() / ".keras" / "datasets" / "fashion-mnist",
        Path("/usr/share/datasets/fashion-mnist"),
    ]
    return places


def find_fashion_mnist(download: bool = False) -> Path:
    """Return the first folder that holds all four files with the right digests.

    A folder whose files are all present but corrupt raises :class:`ChecksumError` at once
    rather than falling through to another copy, because a corrupt copy is worth knowing about.
    """
    places = search_path()
    for folder in places:
        if all((folder / name).is_file() for name in SHA256):
            verify(folder)
            return folder
    if download:
        return _download_with_keras()
    looked = "\n".join(f"  - {p}" for p in places)
    raise DatasetNotFoundError(f"Fashion-MNIST not found. Looked for the four idx .gz files in:\n{looked}\n{HOW_TO_GET}")


def verify(folder: Path) -> None:
    """Raise :class:`ChecksumError` unless every file in ``folder`` matches its digest."""
    for name, expected in SHA256.items():
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if digest != expected:
            raise ChecksumError(
                f"{folder / name} is corrupt: SHA-256 {digest} != expected {expected}. "
                f"Delete it and get a fresh copy.\n{HOW_TO_GET}"
            )


def _download_with_keras() -> Path:
    import keras

    keras.datasets.fashion_mnist.load_data()  # writes ~/.keras/datasets/fashion-mnist/
    folder = Path.home() / ".keras" / "datasets" / "fashion-mnist"
    verify(folder)
    return folder


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)


def load_fashion_mnist(limit: int | None = None, *, seed: int = 0, download: bool = False):
    """Load Fashion-MNIST as float32 images in [0, 1].

    Parameters
    ----------
    limit : int, optional
        Keep a stratified, seeded subset of at most ``limit`` images in *each* split
        (the same number per class, as far as ``limit`` divides by 10).
    seed : int
        Seed of the subset draw.
    download : bool
        Allow the `keras.datasets` download when no local copy exists (off by default:
        the default path never touches the network).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        Images ``(N, 28, 28, 1)`` float32 in [0, 1]; labels ``(N,)`` int64 in [0, 10).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 10):
        raise ValueError(f"`limit` must be None or an int >= 10 (one image per class); got {limit!r}.")
    folder = find_fashion_mnist(download=download)
    splits = []
    for prefix in ("train", "t10k"):
        images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)
        labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
        if limit is not None:
            keep = stratified_indices(labels, limit, seed)
            images, labels = images[keep], labels[keep]
        splits.append((images.astype(np.float32) / 255.0, labels))
    return tuple(splits)


def stratified_indices(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset with ``limit // K`` examples of each of the K classes."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = limit // len(classes)
    picks = [rng.choice(np.flatnonzero(labels == c), size=min(per_class, np.sum(labels == c)), replace=False)
             for c in classes]
    return np.sort(np.concatenate(picks))


if __name__ == "__main__":  # `python -m introspect.data`: used by `make data`
    print(f"Fashion-MNIST found and verified in {find_fashion_mnist()}")
