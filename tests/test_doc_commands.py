"""Every ``python <script>`` command in the README's and the docs' shell blocks is a valid invocation,
and every trained bot a command uses is made by a command before it on the same page.

Each Hydra command's overrides are composed against the real config tree and converted to the
script's dataclass schema (what the script does before it runs), so a renamed option, a typo or a
stale example fails here. A command that reads ``runs/...`` (a checkpoint, a bundle, an estimator)
must come after the command on its page that writes it (``train.py`` with its run folder from
``train.default_run_name``, ``export.py``, ``experiment.py``, ``python -m evaluation.alignment``,
``tournament.py``), so a reader who pastes a page from the top never meets a missing run. Commands
that actually run are exercised elsewhere: the quickstart by CI, the scripts by their own tests
(``test_*_script.py``), the docs site by ``tests/test_docs.py``.
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
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# script -> (module that registers its schemas, config name)
HYDRA_SCRIPTS = {"train.py": ("train", "train"), "tournament.py": ("tournament", "tournament"),
                 "export.py": ("export", "export"), "play.py": ("play", "play"),
                 "experiment.py": ("experiment", "experiment"), "demo.py": ("demo", "demo"),
                 "serve.py": ("serve", "serve"),
                 "datasets.generate": ("datasets.generate", "generate"),
                 "evaluation.alignment": ("evaluation.alignment", "alignment"),
                 "evaluation.peers": ("evaluation.peers", "peers")}
RUN_PATH = re.compile(r"runs/[^\s'\",\]\)]+")


def page_commands(page: Path) -> list[str]:
    """``python ...`` lines of a page's ```bash blocks, in order, comments stripped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
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


def composed(command: str):
    """The command's config as its script sees it: composed, then converted to the dataclass schema."""
    script, overrides = split(command)
    module, config_name = HYDRA_SCRIPTS[script]
    importlib.import_module(module)  # registers the script's schemas in Hydra's ConfigStore
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = compose(config_name=config_name, overrides=overrides)
    return OmegaConf.to_object(cfg)  # the schema check the script does first: types, enums, missing keys


def run_folder(bot: str) -> str:
    """The run folder of a checkpoint path (``.../best``, ``.../last``, ``.../epoch_003``)."""
    return re.sub(r"/(best|last|epoch_\d+)/?$", "", bot.rstrip("/"))


def written_paths(command: str) -> list[str]:
    """Prefixes of the ``runs/...`` paths this command writes."""
    script, _ = split(command)
    if script is None:
        return []
    cfg = composed(command)
    if script == "train.py":
        import train

        folder = f"{cfg.train.logdir}/{cfg.experiment}"
        if cfg.train.run_name:
            return [f"{folder}/{cfg.train.run_name}"]
        if isinstance(cfg.agent, (train.BCConfig, train.DistillConfig)):
            return [f"{folder}/{train.default_run_name(cfg)}"]
        return [f"{folder}/{cfg.agent.name}_"]  # RL: named after its start's rebalancing
    if script == "export.py":
        return [cfg.export.out or f"{run_folder(cfg.bot)}/export"]
    if script == "experiment.py":
        default = "lecture" if cfg.scale.name == "full" else f"lecture_{cfg.scale.name}"
        return [f"runs/{cfg.name or default}"]
    if script == "evaluation.alignment":
        return ["runs/zoo" if cfg.zoo.name == "default" else f"runs/zoo_{cfg.zoo.name}"]
    if script == "tournament.py":
        return [cfg.tournament.out_dir]
    if script == "evaluation.peers":
        return [f"{cfg.out_dir}/seed{cfg.seed}"]
    return []


def read_paths(command: str, written: list[str]) -> list[str]:
    """The ``runs/...`` paths a command reads (globs and its own outputs left out)."""
    return [path for path in RUN_PATH.findall(command)
            if not any(ch in path for ch in "*{") and not any(path.startswith(w) for w in written)]


COMMANDS = sorted({c for page in PAGES for c in page_commands(page) if split(c)[0] is not None})


def test_the_docs_have_commands_for_every_entry_script():
    scripts = {split(c)[0] for c in COMMANDS}
    assert {"train.py", "tournament.py", "export.py", "play.py", "experiment.py", "serve.py",
            "datasets.generate", "evaluation.alignment", "evaluation.peers"} <= scripts


@pytest.mark.parametrize("command", COMMANDS)
def test_doc_command_composes(command):
    composed(command)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_run_a_page_uses_is_made_earlier_on_the_page(page):
    made: list[str] = []
    missing = []
    for command in page_commands(page):
        writes = written_paths(command)
        for path in read_paths(command, writes):
            if not any(path.startswith(prefix) for prefix in made):
                missing.append(f"{path} (in: {command})")
        made += writes
    assert not missing, (f"{page.relative_to(ROOT)} uses runs that no earlier command on the page "
                         "makes:\n" + "\n".join(missing))


def test_the_check_catches_a_run_used_before_it_is_made(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\npython export.py bot=runs/lecture/oversample_seed0\n"
                    "python train.py agent=bc agent.rebalance=oversample experiment=lecture\n"
                    "python export.py bot=runs/lecture/oversample_seed0/best\n```\n", encoding="utf-8")
    commands = page_commands(page)
    assert read_paths(commands[0], written_paths(commands[0])) == ["runs/lecture/oversample_seed0"]
    assert written_paths(commands[1]) == ["runs/lecture/oversample_seed0"]
    assert written_paths(commands[2]) == ["runs/lecture/oversample_seed0/export"]


ARGPARSE_MODULES = ("datasets.importer", "datasets.minari_format")
ARGPARSE_COMMANDS = sorted({c for page in PAGES for c in page_commands(page)
                            if shlex.split(c)[1:2] == ["-m"] and shlex.split(c)[2] in ARGPARSE_MODULES})


def test_the_docs_show_the_argparse_commands():
    assert {shlex.split(c)[2] for c in ARGPARSE_COMMANDS} == set(ARGPARSE_MODULES)


@pytest.mark.parametrize("command", ARGPARSE_COMMANDS)
def test_argparse_command_parses(command):
    words = shlex.split(command)
    importlib.import_module(words[2])._parser().parse_args(words[3:])  # SystemExit(2) on a bad option


@pytest.mark.parametrize("command", sorted({c for page in PAGES for c in page_commands(page)}))
def test_no_command_has_optional_brackets_that_fail_when_pasted(command):
    """``[--matches m.csv]`` documents an option but pastes as two file names."""
    bracketed = [w for w in shlex.split(command) if "=" not in w and (w.startswith("[") or w.endswith("]"))]
    assert not bracketed, f"{command}: {bracketed}"
