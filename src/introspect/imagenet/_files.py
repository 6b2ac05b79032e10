"""Files inside installed packages (the checkpoint, the sample photos), found without importing them."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


def package_dir(module: str, requirement: str, *, extra: str | None = None) -> Path:
    """Directory of the installed package ``module``.

    If it is missing: ``ImportError`` naming introspect's ``extra`` that installs it, or, for a
    dependency of introspect itself, ``FileNotFoundError`` saying to ``pip install requirement``.
    """
    # find_spec locates an installed package without importing (running) it.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        if extra is not None:
            raise ImportError(f"Package {module!r} ({requirement}) is not installed; "
                              f'pip install "introspect[{extra}]"', name=module)
        raise FileNotFoundError(f"Package {module!r} is not installed; `pip install {requirement}` "
                                f"(it is in requirements.txt).")
    return Path(list(spec.submodule_search_locations)[0])


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
