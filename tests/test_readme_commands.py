"""Every ``python <script>`` command in the README's shell blocks is a valid invocation.

Each Hydra command's overrides are composed against the real config tree and converted to the
script's dataclass schema (what the script does before it runs), so a renamed option, a typo or a
stale example in the README fails here. Commands that actually run are exercised elsewhere: the
quickstart by CI, the scripts by their own tests (``test_*_script.py``).
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
# script -> (module that registers its schemas, config name)
HYDRA_SCRIPTS = {"train.py": ("train", "train"), "tournament.py": ("tournament", "tournament"),
                 "export.py": ("export", "export"), "play.py": ("play", "play"),
                 "experiment.py": ("experiment", "experiment"), "demo.py": ("demo", "demo"),
                 "serve.py": ("serve", "serve"),
                 "datasets.generate": ("datasets.generate", "generate"),
                 "evaluation.alignment": ("evaluation.alignment", "alignment")}


def readme_commands() -> list[str]:
    """``python ...`` lines of the README's ```bash blocks, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            line = line.split(" #")[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                part = re.sub(r"^(\S+=\S+ )+", "", part)  # FOO=bar python ...: env vars
                if re.match(r"^(\.venv/bin/)?python3? ", part):
                    commands.append(part)
    return commands


def split(command: str) -> tuple[str | None, list[str]]:
    """(script or module, overrides) of a Hydra command; (None, []) for anything else."""
    words = shlex.split(command)[1:]
    if words[:1] == ["-m"]:
        script, args = words[1], words[2:]
    elif words and words[0].endswith(".py"):
        script, args = Path(words[0]).name, words[1:]
    else:
        return None, []
    if script not in HYDRA_SCRIPTS:
        return None, []
    overrides = []
    for arg in args:
        if arg == "-m":
            continue  # a sweep: check its first value of each swept option
        key, _, value = arg.partition("=")
        if "," in value and not value.startswith("["):
            value = value.split(",")[0]
        overrides.append(f"{key}={value}")
    return script, overrides


COMMANDS = [c for c in readme_commands() if split(c)[0] is not None]


def test_the_readme_has_commands_for_every_entry_script():
    scripts = {split(c)[0] for c in COMMANDS}
    assert {"train.py", "tournament.py", "export.py", "play.py", "experiment.py"} <= scripts


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_composes(command):
    script, overrides = split(command)
    module, config_name = HYDRA_SCRIPTS[script]
    importlib.import_module(module)  # registers the script's schemas in Hydra's ConfigStore
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name=config_name, overrides=overrides)
    OmegaConf.to_object(cfg)  # the schema check the script does first: types, enums, missing keys
