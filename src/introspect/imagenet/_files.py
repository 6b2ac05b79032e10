"""Files inside installed packages (the checkpoint, the sample photos), found without importing them."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path


def package_dir(module: str, requirement: str) -> Path:
    """Directory of the installed package ``module``; ``FileNotFoundError`` says to ``pip install requirement``."""
    # find_spec locates an installed package without importing (running) it.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
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
