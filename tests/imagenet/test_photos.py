"""ImageNet class names, decoding probabilities, and the hand-annotated photo set."""
import json
from pathlib import Path

import numpy as np
import pytest

from introspect import imagenet


def test_class_names_are_the_standard_imagenet_order():
    assert len(imagenet.CLASS_NAMES) == len(imagenet.WNIDS) == imagenet.NUM_CLASSES == 1000
    assert list(imagenet.WNIDS) == sorted(set(imagenet.WNIDS))
    for index, name in ((0, "tench"), (1, "goldfish"), (281, "tabby"), (409, "analog clock"),
                        (817, "sports car"), (954, "banana"), (999, "toilet tissue")):
        assert imagenet.CLASS_NAMES[index].split(",")[0] == imagenet.SHORT_NAMES[index] == name


def test_decode_orders_by_probability_and_validates():
    probs = np.full((2, 1000), 0.5 / 997)
    probs[0, [954, 1, 7]] = [0.3, 0.15, 0.05]
    probs[1, [5, 6, 7]] = [0.05, 0.3, 0.15]
    decoded = imagenet.decode(probs, top=3)
    assert [k for k, _, _ in decoded[0]] == [954, 1, 7] and [k for k, _, _ in decoded[1]] == [6, 7, 5]
    assert decoded[0][0][1].startswith("banana") and decoded[0][0][2] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="`probs` must be probabilities.*softmax"):
        imagenet.decode(np.log(probs))
    with pytest.raises(ValueError, match=r"`probs` must have shape \(N, 1000\)"):
        imagenet.decode(probs[:, :10])
    for top in (0, 1001, 2.5):
        with pytest.raises(ValueError, match="`top`"):
            imagenet.decode(probs, top=top)


def test_data_files_live_in_the_package():
    folder = Path(imagenet.__file__).parent
    assert len(json.loads((folder / "imagenet_classes.json").read_text())["names"]) == 1000
    assert json.loads((folder / "photos.json").read_text())["photos"] == imagenet.photo_records()


def test_photo_set_is_offline_annotated_and_well_formed(photos):
    images, labels, names = photos
    assert images.shape == (len(names), 224, 224, 3) and len(names) >= 10 and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1 and images.std() > 0.1 and len(set(names)) == len(names)
    assert all(labels) and all(0 <= k < 1000 for row in labels for k in row)
    records = imagenet.photo_records()
    assert [r["name"] for r in records] == names and all(r["description"] for r in records)


def test_photo_subset_and_size_are_honoured(photos):
    images, labels, names = photos
    small, small_labels, small_names = imagenet.load_photos(size=64, names=["coffee", "chelsea"])
    assert small.shape == (2, 64, 64, 3) and small_names == ["coffee", "chelsea"]
    assert small_labels == [labels[names.index("coffee")], labels[names.index("chelsea")]]
    # the small version is the big one resized: both show the same picture
    big = images[names.index("coffee")]
    assert abs(float(small[0].mean()) - float(big.mean())) < 0.02


@pytest.mark.parametrize("kwargs, match", [
    ({"names": ["no such photo"]}, "`names` must be a list of photo names"),
    ({"names": "coffee"}, "`names` must be a list of photo names"),
    ({"size": 0}, "`size`"),
])
def test_load_photos_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imagenet.load_photos(**kwargs)
