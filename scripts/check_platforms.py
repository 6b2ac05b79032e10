"""Check that requirements.txt resolves, wheels only, for every platform a newcomer may have.

For macOS arm64, Linux x86_64 and Windows x86_64, each on Python 3.11 and 3.12, this asks uv's
cross-platform resolver (`uv pip compile --python-platform ... --python-version ...`) for a complete
set of binary wheels; nothing is installed. It prints one line per pair (resolved or not, and which
TensorFlow package the environment markers picked) and exits 1 if any pair fails or if the pairs
disagree on the TensorFlow version.

    python -m pip install uv && python scripts/check_platforms.py        # .ci/run does this
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

#: What README promises, as uv target triples (Linux is manylinux_2_28, macOS 13.0 or later).
PLATFORMS = {
    "macOS arm64": "aarch64-apple-darwin",
    "Linux x86_64": "x86_64-unknown-linux-gnu",
    "Windows x86_64": "x86_64-pc-windows-msvc",
}
PYTHON_VERSIONS = ("3.11", "3.12")

TENSORFLOW_PIN = re.compile(r"^(tensorflow|tensorflow-cpu)==(\S+)", re.MULTILINE)


def find_uv() -> str:
    """The uv executable: the one pip installed next to this interpreter, else the first on PATH."""
    try:
        import uv  # the PyPI package ships the binary and knows where it is
        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found is None:
        sys.exit("error: uv not found; install it with `python -m pip install uv` and run this again.")
    return found


def resolve(uv: str, requirements: Path, platform: str, python_version: str) -> tuple[bool, str]:
    """Resolve ``requirements`` for one target. Returns (resolved, the pinned set or uv's error)."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "resolved.txt"
        # --only-binary: a newcomer should never need a compiler, so an sdist-only pin counts as a failure.
        result = subprocess.run(
            [uv, "pip", "compile", str(requirements), "--python-platform", platform,
             "--python-version", python_version, "--only-binary", ":all:",
             "--no-header", "--no-annotate", "--quiet", "--output-file", str(output)],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            return False, (result.stderr or result.stdout).strip()
        return True, output.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=REPO_ROOT / "requirements.txt",
                        help="requirements file to resolve (default: the repository's requirements.txt)")
    args = parser.parse_args(argv)
    if not args.requirements.is_file():
        parser.error(f"--requirements: {args.requirements} is not a file")

    uv = find_uv()
    version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Resolving {args.requirements.name} with {version} (wheels only, nothing installed):")
    failures, tensorflow_versions = 0, set()
    for name, platform in PLATFORMS.items():
        for python_version in PYTHON_VERSIONS:
            label = f"  {name:<15} Python {python_version}:"
            resolved, text = resolve(uv, args.requirements, platform, python_version)
            if not resolved:
                failures += 1
                print(f"{label} NOT resolved\n" + "\n".join(f"      {line}" for line in text.splitlines()))
                continue
            pins = TENSORFLOW_PIN.findall(text)
            tensorflow_versions.update(pin_version for _, pin_version in pins)
            which = ", ".join(f"{package}=={pin_version}" for package, pin_version in pins) or "no TensorFlow!"
            packages = sum(1 for line in text.splitlines() if "==" in line)
            print(f"{label} resolved, {which} ({packages} packages)")
            if not pins:
                failures += 1
    if len(tensorflow_versions) > 1:
        failures += 1
        print(f"TensorFlow versions differ between platforms: {sorted(tensorflow_versions)}")
    if failures:
        print(f"FAILED: {args.requirements.name} does not install everywhere ({failures} problem(s) above).")
        return 1
    print(f"OK: {len(PLATFORMS) * len(PYTHON_VERSIONS)} platform/Python pairs resolve.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
