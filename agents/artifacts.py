"""Artifacts on disk, the one implementation every writer and reader uses.

Files: a reader, or a crash, never sees half a checkpoint, half a table or half a PNG. Each file is
written to a temp file in the same folder, fsynced, then moved over the target with ``os.replace``
(atomic within one filesystem): :func:`atomic_path`, :func:`atomic_write_bytes`,
:func:`atomic_write_text`, :func:`save_figure`. Files get the permissions the umask allows, like a
plain ``open`` would (``mkstemp`` alone would leave them private).

Folders: a checkpoint, an exported bundle, a log dataset and an RLlib checkpoint are folders that
must appear whole or not at all. A writer fills a hidden temp sibling (:func:`temp_sibling`, or the
:func:`write_folder` context manager), and :func:`publish_folder` fsyncs it and swaps it in: an
existing folder is renamed aside, the new one renamed into place, the old one removed (and put
back if the swap fails). A writer only ever replaces a folder *of its own kind*: the ``"format"``
(or ``"kind"``) field of the folder's ``manifest.json`` (:func:`folder_kind`); anything else, say a
folder of notes that happens to sit where a dataset was asked for, is refused with a message saying
what the folder is.

Manifests and hashes: :func:`sha256_file` (manifests record it to catch truncated files) and
:func:`read_json_manifest` (a checked JSON manifest, every failure an error naming the file).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.errors import CheckpointError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["KIND_DESCRIPTIONS", "MANIFEST_NAME", "RLLIB_CHECKPOINT", "atomic_path", "atomic_write_bytes",
           "atomic_write_text", "check_target", "describe_kind", "folder_kind", "fsync_tree",
           "is_replaceable", "publish_folder", "read_json_manifest", "save_figure", "sha256_file",
           "temp_sibling", "write_folder"]

MANIFEST_NAME = "manifest.json"
RLLIB_CHECKPOINT = "rllib-checkpoint"  # RLlib's own checkpoint folder (Algorithm.save_to_path)
# files that identify folders written by a library we drive rather than by us (no manifest.json)
_MARKER_FILES = {"class_and_ctor_args.pkl": RLLIB_CHECKPOINT, "rllib_checkpoint.json": RLLIB_CHECKPOINT}
KIND_DESCRIPTIONS = {
    "fightlab-logs": "a FightLab dataset",
    "fightlab-policy-checkpoint": "a FightLab checkpoint",
    "fightlab-onnx-bot": "an exported FightLab bot",
    RLLIB_CHECKPOINT: "an RLlib checkpoint",
}
DEFAULT_OVERWRITE_HINT = "pass overwrite=True to replace it, or choose another path"


# ---- files ------------------------------------------------------------------------------------------
def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for a writer that wants a file name (``torch.save``,
    ``safetensors.save_file``); on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename); returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def save_figure(path: str | Path, figure: Figure, dpi: int = 100) -> Path:
    """Render a matplotlib ``figure`` as PNG in memory, then write it atomically."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return atomic_write_bytes(path, buffer.getvalue())


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks: manifests record it to catch truncated files."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- manifests --------------------------------------------------------------------------------------
def read_json_manifest(manifest_path: Path, expected_format: str, error: type[CheckpointError], *,
                       kind: str, missing_hint: str) -> dict[str, Any]:
    """Parse ``manifest_path`` and check its ``"format"``; every failure is ``error`` naming the file.

    Shared by checkpoints and exported bundles: both are a folder of weights plus a JSON manifest.
    """
    if not manifest_path.is_file():
        raise error(f"{manifest_path} is missing: {missing_hint}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise error(f"{manifest_path} is corrupt: not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise error(f"{manifest_path} is not {kind}: expected \"format\": \"{expected_format}\", "
                    f"found {found!r}")
    return manifest


def folder_kind(path: str | Path) -> str | None:
    """What artifact folder ``path`` is: its ``manifest.json``'s ``"format"`` (or ``"kind"``) field,
    :data:`RLLIB_CHECKPOINT` for RLlib's own checkpoints, or None (not a folder, no readable
    manifest, a manifest without a kind)."""
    path = Path(path)
    if not path.is_dir():
        return None
    manifest_path = path / MANIFEST_NAME
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if isinstance(manifest, dict):
            kind = manifest.get("format", manifest.get("kind"))
            return kind if isinstance(kind, str) and kind else None
        return None
    for marker, kind in _MARKER_FILES.items():
        if (path / marker).is_file():
            return kind
    return None


def describe_kind(kind: str | None) -> str:
    """``"a FightLab dataset"`` for ``"fightlab-logs"``: words for messages."""
    if kind is None:
        return "an artifact folder FightLab knows"
    return KIND_DESCRIPTIONS.get(kind, f"a {kind!r} folder")


def _what_is(path: Path) -> str:
    """What a folder in the way is, for a refusal message."""
    if path.is_symlink():
        return "a symbolic link"
    if not path.is_dir():
        return "a file"
    kind = folder_kind(path)
    if kind is not None:
        return f"it is {describe_kind(kind)} (\"format\": {kind!r})"
    if (path / MANIFEST_NAME).is_file():
        return f"its {MANIFEST_NAME} names no format"
    return f"no {MANIFEST_NAME}"


def is_replaceable(path: str | Path, kind: str) -> bool:
    """Whether a writer of ``kind`` may replace ``path``: a real folder of that kind, or an empty one."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    return folder_kind(path) == kind or not any(path.iterdir())


def check_target(path: str | Path, *, overwrite: bool, kind: str,
                 overwrite_hint: str = DEFAULT_OVERWRITE_HINT) -> None:
    """Fail early, before any work, when ``path`` cannot be (re)written as a folder of ``kind``.

    Nothing there: fine. Something there: :class:`FileExistsError` unless ``overwrite``, and even
    with ``overwrite`` unless it is a folder of ``kind`` (or empty); the message says what it is.
    """
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise FileExistsError(f"{path} already exists; {overwrite_hint}")
    if not is_replaceable(path, kind):
        raise FileExistsError(f"{path} exists and is not {describe_kind(kind)} ({_what_is(path)}); "
                              "refusing to replace it even with overwrite: delete it yourself or "
                              "choose another path")


# ---- folders ----------------------------------------------------------------------------------------
def temp_sibling(target: str | Path, tag: str = "tmp") -> Path:
    """A new, empty, hidden folder beside ``target`` (same filesystem, so publishing is a rename).

    ``mkdir`` honours the umask, unlike ``tempfile.mkdtemp``'s private 0700.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{tag}-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    return tmp


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(folder: str | Path) -> None:
    """fsync every file under ``folder``, then every folder (children before parents)."""
    folder = Path(folder)
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            file = Path(root) / name
            if file.is_symlink():
                continue
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
        for name in dirs:
            _fsync_dir(Path(root) / name)
    _fsync_dir(folder)


def publish_folder(tmp: str | Path, target: str | Path, *, overwrite: bool, kind: str,
                   overwrite_hint: str = DEFAULT_OVERWRITE_HINT) -> Path:
    """Move the complete folder ``tmp`` onto ``target`` (same filesystem: a rename); returns ``target``.

    ``tmp`` is fsynced first. With ``overwrite``, an existing folder of ``kind`` (see
    :func:`check_target`) is renamed aside, the new one renamed into place, then the old one
    removed; if the second rename fails the old one is put back. ``tmp`` is left where it is when
    this raises (the caller removes it; :func:`write_folder` does).
    """
    tmp, target = Path(tmp), Path(target)
    check_target(target, overwrite=overwrite, kind=kind, overwrite_hint=overwrite_hint)
    os.chmod(tmp, 0o777 & ~_umask())  # like a plain mkdir, also for a private tempfile.mkdtemp folder
    fsync_tree(tmp)
    if not (target.exists() or target.is_symlink()):
        try:
            os.replace(tmp, target)
        except OSError as err:  # someone created a non-empty folder there meanwhile
            raise FileExistsError(f"{target} appeared while writing; not replacing it") from err
    else:
        aside = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:12]}"
        os.replace(target, aside)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(aside, target)
            raise
        shutil.rmtree(aside, ignore_errors=True)
    _fsync_dir(target.parent)
    return target


@contextmanager
def write_folder(target: str | Path, *, kind: str, overwrite: bool,
                 overwrite_hint: str = DEFAULT_OVERWRITE_HINT) -> Iterator[Path]:
    """Yield a temp folder to fill; leaving the block publishes it at ``target`` as a whole.

    ::

        with write_folder(path, kind=FORMAT, overwrite=True) as tmp:
            save_file(tensors, tmp / "model.safetensors")
            atomic_write_text(tmp / "manifest.json", ...)

    The target is checked before the block runs (nothing is computed for a write that will be
    refused). On an exception the temp folder is removed and ``target`` is untouched.
    """
    target = Path(target)
    check_target(target, overwrite=overwrite, kind=kind, overwrite_hint=overwrite_hint)
    tmp = temp_sibling(target)
    try:
        yield tmp
        publish_folder(tmp, target, overwrite=overwrite, kind=kind, overwrite_hint=overwrite_hint)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
