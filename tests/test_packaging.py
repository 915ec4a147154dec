"""Installing the project must not shadow well-known distributions (Hugging Face ``datasets``).

Decision (see setup.cfg): the framework runs from its checkout and its distribution ``fightlab``
installs dependencies only, no top-level modules. These tests fail if someone adds
``packages = find:`` or similar, which would put ``datasets`` (and ``envs``, ``agents``,
``evaluation``) into site-packages.
"""

import configparser
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUR_TOP_LEVEL = ("datasets", "envs", "agents", "evaluation")


def test_distribution_installs_no_top_level_packages():
    dist = metadata.distribution("fightlab")
    files = [str(f) for f in (dist.files or [])]
    for name in OUR_TOP_LEVEL:
        assert not any(f == f"{name}/__init__.py" or f.startswith(f"{name}/") for f in files), files
    top_level = (dist.read_text("top_level.txt") or "").split()
    assert not set(top_level) & set(OUR_TOP_LEVEL)


def test_outside_the_checkout_datasets_is_not_ours(tmp_path):
    code = (
        "import importlib.util, json\n"
        f"names = {OUR_TOP_LEVEL!r}\n"
        "specs = {n: importlib.util.find_spec(n) for n in names}\n"
        "print(json.dumps({n: (s.origin if s else None) for n, s in specs.items()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    import json

    origins = json.loads(out)
    for name, origin in origins.items():
        assert origin is None or not str(origin).startswith(str(ROOT)), (name, origin)


def test_inside_the_checkout_our_packages_import():
    code = "import datasets, envs, agents, evaluation; print(datasets.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().startswith(str(ROOT / "datasets"))


def test_every_dependency_is_pinned_and_torch_is_the_cpu_pin():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = config["options"]["install_requires"].split()
    requirements += config["options.extras_require"]["dev"].split()
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    for requirement in requirements:
        name = re.split(r"[\[<>=!~]", requirement)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
    assert pins["torch"] == "2.13.0"
