"""Command-line overrides checked before Hydra runs, with errors that say what to type instead.

Every entry script (``train.py``, ``tournament.py``, ``export.py``, ``experiment.py``, ``play.py``,
``demo.py``, ``python -m datasets.generate``) calls :func:`check_overrides_or_exit` first, so

* a typo'd key names the valid keys at that level and the closest match::

      train.py: unknown key 'agent.epoch'; did you mean 'agent.epochs'? Valid keys of agent
      (BCConfig): activation, batch_size, ...

  (Hydra's own message is "Could not override 'agent.epoch'. To append to your config use
  +agent.epoch=3", which suggests exactly the wrong fix);
* ``+key=value`` under a dataclass-backed section that does not declare ``key`` is refused:
  Hydra would accept it and nothing would ever read it, so the run would silently ignore it.
  ``+`` stays the way to add entries to free-form dict fields (``dict[str, ...]`` in the schema),
  e.g. ``+tournament.groups.pros=[rushdown,zoner]`` or ``play.py +game.walk_forward_speed=4``;
* an unknown config group choice (``agent=bcc``) names the choices and the closest match;
* anything else Hydra refuses (a wrong type, a bad enum value, an unparsable override) comes back as
  one paragraph without a traceback.

The check composes the real config with Hydra's compose API (``initialize_config_dir`` +
``compose``) against the script's ConfigStore schemas, which the script registered when it was
imported. Hydra's own flags (``-m``, ``--cfg job``, ``hydra.*`` overrides, ...) are passed through
untouched; a sweep (``-m agent.lr=1e-3,1e-4``) is checked once per key (its first value), except
config group sweeps (``agent=bc,ppo``), whose every choice is checked, since each choice brings its
own keys. Errors go to stderr and the script exits with status 2 (a usage error) before any work.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
EXIT_USAGE = 2

# Hydra's command-line flags (hydra/_internal/utils.py get_args_parser): those taking a value
_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
                     "--config-dir", "-cd", "--experimental-rerun"}
_INFO_CHOICES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
# flags after which the script does not run a job (or reads configs from elsewhere): nothing to check
_SKIP_FLAGS = {"--help", "-h", "--hydra-help", "--version", "--shell-completion", "-sc", "--info", "-i",
               "--experimental-rerun", "--config-path", "-cp", "--config-dir", "-cd"}
_MAX_GROUP_COMBINATIONS = 32  # config group sweeps checked choice by choice, up to this many jobs


class OverrideError(ValueError):
    """A command-line override the script's config does not accept (the message says what to do)."""


@dataclasses.dataclass
class _Args:
    overrides: list[str]
    config_name: str | None = None
    skip: bool = False


def split_arguments(argv: Sequence[str]) -> _Args:
    """The config overrides among ``argv`` (Hydra's flags and ``hydra.*`` overrides left out)."""
    args = _Args([])
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("-") and not token.startswith("~"):
            flag, has_value, value = token.partition("=")
            if flag in _SKIP_FLAGS:
                args.skip = True
            if flag in _FLAGS_WITH_VALUE and not has_value and i < len(tokens):
                value = tokens[i]
                i += 1
            elif flag in ("--info", "-i") and not has_value and tokens[i:i + 1] \
                    and tokens[i] in _INFO_CHOICES:
                i += 1
            if flag in ("--config-name", "-cn"):
                args.config_name = value
            continue
        key = token.partition("=")[0].lstrip("+~")
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue  # Hydra's own settings: its schema, its messages
        args.overrides.append(token)
    return args


def check_overrides(config_name: str, overrides: Sequence[str], *, config_dir: str | Path = CONF_DIR,
                    program: str | None = None) -> None:
    """Raise :class:`OverrideError` if ``overrides`` do not fit config ``config_name`` in ``config_dir``.

    ``overrides`` are config overrides only (see :func:`split_arguments`); ``program`` prefixes the
    message (default: the config name). The config's schemas must be in Hydra's ConfigStore.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    program = program or config_name
    parser = OverridesParser.create()
    parsed = []
    for text in overrides:
        try:
            parsed.extend(parser.parse_overrides([text]))
        except HydraException as err:
            raise OverrideError(f"{program}: cannot read the override {text!r}: "
                                f"{_one_paragraph(err)}") from None
    with initialize_config_dir(config_dir=str(Path(config_dir).resolve()), version_base=None):
        loader = GlobalHydra.instance().config_loader()
        is_group = [o.package is None and not o.is_delete() and loader.repository.group_exists(o.key_or_group)
                    for o in parsed]
        groups = [o for o, group in zip(parsed, is_group, strict=True) if group]
        values = [o for o, group in zip(parsed, is_group, strict=True) if not group]
        problems = [problem for o in groups if (problem := _group_problem(o, loader, program))]
        if problems:
            raise OverrideError("\n".join(problems))
        for choice in _group_combinations(groups):
            try:
                cfg = compose(config_name=config_name, overrides=choice)
            except (HydraException, OmegaConfBaseException) as err:
                raise OverrideError(f"{program}: {_one_paragraph(err)}") from None
            problems = [problem for o in values if (problem := _key_problem(o, cfg, program))]
            if problems:
                raise OverrideError("\n".join(problems))
            try:  # values: types, enum choices, '+' on a key that exists...
                compose(config_name=config_name, overrides=[*choice, *(_first_value(o) for o in values)])
            except (HydraException, OmegaConfBaseException) as err:
                raise OverrideError(f"{program}: {_one_paragraph(err)}") from None


def check_overrides_or_exit(config_name: str, argv: Sequence[str] | None = None, *,
                            config_dir: str | Path = CONF_DIR, program: str | None = None) -> None:
    """Check the command line of a Hydra entry script; on a bad override print why and exit with 2.

    Call it in the script's ``if __name__ == "__main__":`` block, before the ``@hydra.main`` function:
    ``check_overrides_or_exit("train", sys.argv[1:])``. ``program`` defaults to the script's name.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    program = program or Path(sys.argv[0]).name or config_name
    args = split_arguments(argv)
    if args.skip:
        return
    try:
        check_overrides(args.config_name or config_name, args.overrides, config_dir=config_dir,
                        program=program)
    except OverrideError as err:
        print(err, file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


# ---- helpers ---------------------------------------------------------------------------------------
def _one_paragraph(err: BaseException) -> str:
    """Hydra's / OmegaConf's message and its cause on one line, without the config search path."""
    parts = []
    while err is not None and len(parts) < 3:
        text = str(err).split("Config search path:")[0]
        lines = [line.strip() for line in text.splitlines() if line.strip()
                 and not line.strip().startswith(("full_key:", "object_type=", "Set the environment"))]
        if lines and " ".join(lines) not in parts:
            parts.append(" ".join(lines))
        err = err.__cause__
    return ": ".join(parts)


def _first_value(override: Any) -> str:
    """The override as text, with a sweep reduced to its first value (checked once per key)."""
    if not override.is_sweep_override():
        return override.input_line
    try:
        first = next(iter(override.sweep_string_iterator()))
    except Exception:  # an interval sweep (only a sweeper plugin knows its values): check the key only
        first = "null"
    return f"{override.get_key_element()}={first}"


def _group_choices(override: Any) -> list[str | None]:
    if not override.is_sweep_override():
        value = override.value()
        return [None if value is None else str(value)]
    try:
        return list(override.sweep_string_iterator())
    except Exception:
        return []


def _group_problem(override: Any, loader: Any, program: str) -> str | None:
    """An unknown choice of a config group (``agent=bcc``), with the options and a suggestion."""
    group = override.key_or_group
    options = loader.get_group_options(group)
    shown = sorted(o for o in options if not o.endswith("_schema")) or sorted(options)
    for choice in _group_choices(override):
        if choice is not None and choice not in options:
            close = difflib.get_close_matches(choice, shown, n=1, cutoff=0.5)
            hint = f"; did you mean '{group}={close[0]}'?" if close else ";"
            return f"{program}: unknown {group} '{choice}'{hint} Options of {group}: {', '.join(shown)}"
    return None


def _group_combinations(groups: Sequence[Any]) -> Iterator[list[str]]:
    """The group overrides of each job of a sweep (one list without a sweep), capped."""
    per_group = [[f"{o.get_key_element()}={'null' if c is None else c}" for c in _group_choices(o)]
                 or [_first_value(o)] for o in groups]
    yield from itertools.islice((list(c) for c in itertools.product(*per_group)), _MAX_GROUP_COMBINATIONS)


def _schema_type(node: Any) -> type | None:
    """The dataclass behind a config node, or None for a free-form dict."""
    from omegaconf import OmegaConf

    kind = OmegaConf.get_type(node)
    return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def _all_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key below ``node`` (into dict sections, not into lists)."""
    from omegaconf import DictConfig

    for key in node.keys():
        full = f"{prefix}{key}"
        yield full
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none() and not child._is_missing() \
                and not child._is_interpolation():
            yield from _all_keys(child, f"{full}.")


def _key_problem(override: Any, cfg: Any, program: str) -> str | None:
    """What is wrong with the key of ``override`` in the composed ``cfg`` (None: nothing, or Hydra's call)."""
    from omegaconf import DictConfig

    if override.package is not None:
        return None
    parts = override.key_or_group.split(".")
    adding = override.is_add() or override.is_force_add()
    node = cfg
    for depth, part in enumerate(parts):
        if not isinstance(node, DictConfig) or node._is_none() or node._is_missing() \
                or node._is_interpolation():
            return None  # a list index, an unset section, ...: Hydra's own check decides
        keys = sorted(str(k) for k in node.keys())
        if part in keys:
            node = node._get_node(part)
            continue
        schema = _schema_type(node)
        full = ".".join(parts[:depth + 1])
        parent = ".".join(parts[:depth])
        where = f"{parent} ({schema.__name__})" if parent and schema else parent or (
            f"the config ({schema.__name__})" if schema else "the config")
        listing = f"Valid keys of {where}: {', '.join(keys)}" if keys else f"{where} has no keys yet"
        if schema is None:  # a free-form dict: '+' adds entries, plain '=' cannot
            if adding:
                return None
            return (f"{program}: unknown key '{full}': {where} is a free-form dict, so add an entry "
                    f"with '+{override.input_line}'. {listing}")
        hint = _suggestion(part, full, keys, parent, cfg)
        if adding:
            return (f"{program}: '{override.input_line}' adds '{part}' to {where}, which has no such "
                    f"field, so nothing would read it (the run would silently ignore it); '+' adds "
                    f"entries only to free-form dict fields{hint} {listing}")
        return f"{program}: unknown key '{full}'{hint} {listing}"
    return None


def _suggestion(part: str, full: str, keys: list[str], parent: str, cfg: Any) -> str:
    """``; did you mean 'x'?`` from the same level, else from anywhere in the config; ``.`` if none."""
    close = difflib.get_close_matches(part, keys, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{f'{parent}.' if parent else ''}{close[0]}'?"
    everywhere = [k for k in _all_keys(cfg) if k != full]
    leaves = {}
    for key in everywhere:
        leaves.setdefault(key.rsplit(".", 1)[-1], key)
    close = difflib.get_close_matches(part, list(leaves), n=1, cutoff=0.8)
    return f"; did you mean '{leaves[close[0]]}'?" if close else "."
