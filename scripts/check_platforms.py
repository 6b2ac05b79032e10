"""Check that the locks resolve, wheels only, for every platform a newcomer may have.

requirements.txt for macOS arm64, Linux x86_64 and Windows x86_64, and requirements-gpu.txt (the
`make ... TF=gpu` lock, TensorFlow with CUDA) for Linux x86_64, each on Python 3.11 and 3.12: this
asks uv's cross-platform resolver (`uv pip compile --python-platform ... --python-version ...`) for a
complete set of binary wheels; nothing is installed. It prints one line per pair (resolved or not,
and which TensorFlow package the environment markers picked; for the GPU lock, how many NVIDIA CUDA
packages came with it) and exits 1 if any pair fails, if the GPU lock would also install
tensorflow-cpu or no CUDA, or if the pairs disagree on the TensorFlow version.

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
#: Each lock and the platforms it is for; TensorFlow has CUDA wheels for Linux x86_64 only.
LOCKS = {
    "requirements.txt": tuple(PLATFORMS),
    "requirements-gpu.txt": ("Linux x86_64",),
}

TENSORFLOW_PIN = re.compile(r"^(tensorflow|tensorflow-cpu)==(\S+)", re.MULTILINE)
CUDA_PIN = re.compile(r"^nvidia-\S+==", re.MULTILINE)


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


def check(uv: str, requirements: Path, platforms, tensorflow_versions: set) -> int:
    """Resolve ``requirements`` for each of ``platforms`` and each Python; print a line per pair; count failures."""
    gpu = requirements.name == "requirements-gpu.txt"
    failures = 0
    for name in platforms:
        for python_version in PYTHON_VERSIONS:
            label = f"  {name:<15} Python {python_version}:"
            resolved, text = resolve(uv, requirements, PLATFORMS[name], python_version)
            if not resolved:
                failures += 1
                print(f"{label} NOT resolved\n" + "\n".join(f"      {line}" for line in text.splitlines()))
                continue
            pins = TENSORFLOW_PIN.findall(text)
            tensorflow_versions.update(pin_version for _, pin_version in pins)
            which = ", ".join(f"{package}=={pin_version}" for package, pin_version in pins) or "no TensorFlow!"
            cuda = len(CUDA_PIN.findall(text))
            if gpu:
                which += f" + {cuda} NVIDIA CUDA packages"
            packages = sum(1 for line in text.splitlines() if "==" in line)
            print(f"{label} resolved, {which} ({packages} packages)")
            # The GPU lock must give one TensorFlow, the full one, and CUDA with it.
            if not pins or (gpu and ([package for package, _ in pins] != ["tensorflow"] or cuda == 0)):
                failures += 1
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=None,
                        help="one requirements file to resolve on every platform (default: requirements.txt "
                             "on every platform and requirements-gpu.txt on Linux x86_64)")
    args = parser.parse_args(argv)
    if args.requirements is None:
        locks = {REPO_ROOT / name: platforms for name, platforms in LOCKS.items()}
    elif not args.requirements.is_file():
        parser.error(f"--requirements: {args.requirements} is not a file")
    else:
        locks = {args.requirements: tuple(PLATFORMS)}

    uv = find_uv()
    version = subprocess.run([uv, "--version"], capture_output=True, text=True).stdout.strip()
    failures, pairs, tensorflow_versions = 0, 0, set()
    for requirements, platforms in locks.items():
        print(f"Resolving {requirements.name} with {version} (wheels only, nothing installed):")
        failures += check(uv, requirements, platforms, tensorflow_versions)
        pairs += len(platforms) * len(PYTHON_VERSIONS)
    names = " and ".join(requirements.name for requirements in locks)
    if len(tensorflow_versions) > 1:
        failures += 1
        print(f"TensorFlow versions differ between platforms or locks: {sorted(tensorflow_versions)}")
    if failures:
        print(f"FAILED: {failures} problem(s) above; {names} must install everywhere listed.")
        return 1
    print(f"OK: {pairs} lock/platform/Python triples resolve ({names}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
