"""Real photos shipped inside packages, labelled by hand.

A photo is read from an installed package (scikit-image, matplotlib, scikit-learn: its record
names ``package`` and ``resource``) or from inside a PyPI wheel that is never installed (its record
has a ``wheel`` source, see :mod:`.wheels`). The annotations (crop, acceptable ImageNet classes,
objects with boxes, licence, a description) are in ``photos.json`` next to this module.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .._validation import positive_int
from ._files import package_dir
from .efficientnet import IMAGE_SIZE

_PIP_NAMES = {"skimage": "scikit-image", "sklearn": "scikit-learn"}


def photo_records() -> list[dict]:
    """The annotated photo set: name, package, resource, crop, acceptable labels, description."""
    return json.loads((Path(__file__).resolve().parent / "photos.json").read_text(encoding="utf-8"))["photos"]


def open_photo(record: dict):
    """The RGB ``PIL.Image`` of a photos.json record, from its installed package or its verified wheel."""
    from PIL import Image

    if "wheel" in record:
        from .wheels import read_member
        with Image.open(io.BytesIO(read_member(record["wheel"]))) as image:
            return image.convert("RGB")
    path = package_dir(record["package"], _PIP_NAMES.get(record["package"], record["package"]))
    with Image.open(path / record["resource"]) as image:
        return image.convert("RGB")


def load_photos(size: int = IMAGE_SIZE, names=None) -> tuple[np.ndarray, list[tuple[int, ...]], list[str]]:
    """Real photos shipped inside installed packages, with labels written down by a person.

    Each photo (sample images of scikit-image, matplotlib and scikit-learn, and photos inside
    wheels; see ``photos.json`` and :func:`open_photo`) is read, converted to RGB, cropped to its
    annotated region if any, resized so its shorter side is ``size`` (bilinear, antialiased) and
    centre-cropped to ``size x size``.

    Parameters
    ----------
    size : int
        Output height and width.
    names : sequence of str, optional
        Only these photos (in this order); default all.

    Returns
    -------
    images : np.ndarray
        float32 ``(N, size, size, 3)`` in ``[0, 1]``.
    labels : list of tuple of int
        For each photo, every ImageNet class index that is a correct answer (the first is the
        main one).
    names : list of str
        The photos' names.
    """
    from PIL import Image

    size = positive_int(size, "size")
    records = {record["name"]: record for record in photo_records()}
    if names is None:
        names = list(records)
    elif isinstance(names, str) or not all(n in records for n in names):
        raise ValueError(f"`names` must be a list of photo names from {sorted(records)}; got {names!r}.")
    images, labels = [], []
    for name in names:
        record = records[name]
        image = open_photo(record)
        if record["crop"] is not None:
            image = image.crop(tuple(record["crop"]))
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
        images.append(np.asarray(image, dtype=np.float32) / 255.0)
        labels.append(tuple(record["labels"]))
    return np.stack(images), labels, list(names)
