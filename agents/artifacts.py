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

Killed processes: temp names say which process wrote them (``.<name>.tmp-<pid>-<host>-<id>``), and a
swap's names record its intent (``.new-``: complete, ``.old-``: the previous version moved aside).
The next writer of a path (:func:`check_target`) or checkpoint reader calls :func:`recover_folder`:
for a writer whose pid is gone on this host it finishes or undoes a half-done swap and removes its
temp folders, printing a ``note:`` line; ``train.py`` does it for a whole run folder at start
(:func:`recover_folders_in`). Storage failures (full disk, quota, read-only, no permission) are
:class:`StorageError` naming the target (:func:`storage_errors`).

Locks: :func:`folder_lock` keeps a second process out of a run folder or a tournament while one
works there (an ``O_EXCL`` lock file beside the folder, with pid, host, start time and command; a
dead owner's lock is taken over with a note; Ctrl-C inside is :class:`Interrupted`, naming the folder).

Manifests and hashes: :func:`sha256_file` (manifests record it to catch truncated files) and
:func:`read_json_manifest` (a checked JSON manifest, every failure an error naming the file), both
read through :func:`read_json_bounded` (size and nesting limits: a hostile manifest is an error, not a
200 MB read or a ``RecursionError``).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.errors import CheckpointError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["KIND_DESCRIPTIONS", "MANIFEST_NAME", "RLLIB_CHECKPOINT", "TOURNAMENT", "FolderInUseError",
           "Interrupted", "StorageError", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "check_target", "describe_kind", "folder_kind", "folder_lock", "fsync_tree", "is_replaceable",
           "is_sha256", "lock_file", "publish_folder", "read_json_bounded", "read_json_manifest",
           "recover_folder", "recover_folders_in", "save_figure", "sha256_file", "storage_errors",
           "temp_sibling", "write_folder"]

MANIFEST_NAME = "manifest.json"
RLLIB_CHECKPOINT = "rllib-checkpoint"  # RLlib's own checkpoint folder (Algorithm.save_to_path)
TOURNAMENT = "fightlab-tournament"  # a tournament's out_dir: its match log, tables and report
# files that identify folders without a manifest.json: written by a library we drive (RLlib), or
# a tournament folder (its append-only match log)
_MARKER_FILES = {"class_and_ctor_args.pkl": RLLIB_CHECKPOINT, "rllib_checkpoint.json": RLLIB_CHECKPOINT,
                 "matches.jsonl": TOURNAMENT}
KIND_DESCRIPTIONS = {
    "fightlab-logs": "a FightLab dataset",
    "fightlab-policy-checkpoint": "a FightLab checkpoint",
    "fightlab-onnx-bot": "an exported FightLab bot",
    RLLIB_CHECKPOINT: "an RLlib checkpoint",
    TOURNAMENT: "a FightLab tournament",
}
DEFAULT_OVERWRITE_HINT = "pass overwrite=True to replace it, or choose another path"


# ---- storage errors ---------------------------------------------------------------------------------
class StorageError(OSError):
    """Writing ``path`` failed because of the storage, not the data: a full disk, a quota, a read-only
    filesystem, no permission. ``str(err)`` is the whole message ("no space left on device while
    writing runs/bc/x/last"); ``errno`` is the original code. Scripts print it without a traceback."""

    def __init__(self, message: str, code: int | None, path: str | Path) -> None:
        super().__init__(message)
        self.errno = code
        self.path = Path(path)


_STORAGE_ERRORS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                   errno.EROFS: "read-only file system", errno.EACCES: "permission denied"}
# how libraries that wrap the OS error in their own exception (safetensors, pyarrow) spell them
_STORAGE_TEXTS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                  "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES}


def storage_error(err: BaseException, path: str | Path) -> StorageError | None:
    """``err`` as a :class:`StorageError` naming ``path`` when it is a full disk, a quota, a
    read-only filesystem or a permission problem (as an ``OSError`` errno or, from a library that
    wraps it, in its message); None for anything else (and for an error already mapped)."""
    if isinstance(err, StorageError) or not isinstance(err, Exception):
        return None
    code = err.errno if isinstance(err, OSError) else None
    if code not in _STORAGE_ERRORS:
        text = str(err)
        code = next((c for words, c in _STORAGE_TEXTS.items() if words in text), None)
    if code is None:
        return None
    return StorageError(f"{_STORAGE_ERRORS[code]} while writing {path}", code, path)


@contextmanager
def storage_errors(path: str | Path) -> Iterator[None]:
    """Turn a storage failure inside the block into a :class:`StorageError` naming ``path``
    (:func:`storage_error`); other errors pass through unchanged."""
    try:
        yield
    except Exception as err:
        mapped = storage_error(err, path)
        if mapped is None:
            raise
        raise mapped from err


# ---- files ------------------------------------------------------------------------------------------
def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` for a writer that wants a file name (``torch.save``,
    ``safetensors.save_file``); on success it replaces ``path``, on error it is removed. A full
    disk (or a read-only or forbidden folder) is a :class:`StorageError` naming ``path``."""
    path = Path(path)
    with storage_errors(path):
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


def is_sha256(value: object) -> bool:
    """Whether ``value`` is a sha256 as :func:`sha256_file` writes it (64 lowercase hex digits):
    readers refuse a manifest whose hash is missing or malformed instead of skipping the check."""
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_file_entry(entry: Any, *, field: str, default_file: str | None, manifest_path: Path,
                     error: type[Exception], folder: str, shape: str = "{file, sha256}",
                     missing_hash: str) -> None:
    """A manifest entry ``field`` that names a file of the artifact's folder and its sha256.

    The hash is required: without it whatever file sits next to the manifest would load, so a
    missing or malformed hash raises ``error`` (ending with ``missing_hash``: why, and what to do)
    instead of skipping the check; so does a file name that is not a plain name in ``folder``."""
    if not isinstance(entry, dict):
        raise error(f"{manifest_path} is corrupt: {field} must be {shape}, got {type(entry).__name__}")
    file = entry.get("file", default_file)
    if not isinstance(file, str) or not file or Path(file).name != file or file in (".", ".."):
        raise error(f"{manifest_path} is corrupt: {field}.file must be a file name in the {folder} "
                    f"folder, got {file!r}")
    digest = entry.get("sha256")
    if not is_sha256(digest):
        what = "is missing" if digest is None else f"is not a sha256 hex digest ({digest!r})"
        raise error(f"{manifest_path}: field {field}.sha256 {what}; the hash of {file} is required "
                    f"{missing_hash}")


# ---- manifests --------------------------------------------------------------------------------------
MAX_MANIFEST_BYTES = 16 << 20  # 16 MiB: real manifests are kilobytes; a bigger one is not read at all
MAX_JSON_DEPTH = 100  # real manifests nest < 10 levels; deeper JSON is refused before anything recurses


def read_json_bounded(path: str | Path, *, max_bytes: int = MAX_MANIFEST_BYTES,
                      max_depth: int = MAX_JSON_DEPTH, error: type[Exception] = ValueError) -> Any:
    """Parse the JSON file ``path``, refusing one over ``max_bytes`` (checked with ``stat`` before
    reading) or nested over ``max_depth`` levels; every failure is ``error`` naming the file.

    Every manifest reader goes through this, so a hostile manifest (200 MB, or 100,000 levels
    deep) is a clear error instead of a long read or a raw ``RecursionError``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise error(f"{path} cannot be read ({err})") from err
    if size > max_bytes:
        raise error(f"{path} is {size:,} bytes, over the {max_bytes:,}-byte limit for a JSON manifest; "
                    "refusing to read it")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as err:
        raise error(f"{path} cannot be read ({err})") from err
    if len(data) > max_bytes:
        raise error(f"{path} is over the {max_bytes:,}-byte limit for a JSON manifest; refusing to read it")
    try:
        value = json.loads(data.decode("utf-8"))
    except RecursionError as err:
        raise error(f"{path} is corrupt: JSON nested deeper than {max_depth} levels") from err
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError, and an int too long to convert
        raise error(f"{path} is corrupt: not valid JSON ({err})") from err
    stack = [(value, 1)]
    while stack:  # iterative: checking the depth must not recurse either
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise error(f"{path} is corrupt: JSON nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return value


def read_json_manifest(manifest_path: Path, expected_format: str, error: type[CheckpointError], *,
                       kind: str, missing_hint: str) -> dict[str, Any]:
    """Parse ``manifest_path`` and check its ``"format"``; every failure is ``error`` naming the file.

    Shared by checkpoints and exported bundles: both are a folder of weights plus a JSON manifest.
    """
    if not manifest_path.is_file():
        raise error(f"{manifest_path} is missing: {missing_hint}")
    manifest = read_json_bounded(manifest_path, error=error)
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
            manifest = read_json_bounded(manifest_path)
        except ValueError:
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

    A replacement of ``path`` that a killed process left half done is finished or undone first
    (:func:`recover_folder`). Then: nothing there, fine. Something there: :class:`FileExistsError`
    unless ``overwrite``, and even with ``overwrite`` unless it is a folder of ``kind`` (or empty);
    the message says what it is.
    """
    path = Path(path)
    recover_folder(path)
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise FileExistsError(f"{path} already exists; {overwrite_hint}")
    if not is_replaceable(path, kind):
        raise FileExistsError(f"{path} exists and is not {describe_kind(kind)} ({_what_is(path)}); "
                              "refusing to replace it even with overwrite: delete it yourself or "
                              "choose another path")


# ---- who owns a temp folder or a lock ---------------------------------------------------------------
_HOST = socket.gethostname()
_HOST_TAG = hashlib.sha256(_HOST.encode()).hexdigest()[:6]  # short, filename-safe
# .<target name>.<tag>-<pid>-<host tag>-<random>: a hidden sibling of <target>; tmp (being written),
# new (complete, about to be swapped in) or old (the previous version, moved aside for the swap)
_SIBLING = re.compile(r"^\.(?P<name>.+)\.(?P<tag>tmp|new|old)-(?P<pid>\d+)-(?P<host>[0-9a-f]{6})-"
                      r"(?P<id>[0-9a-f]{12})$")


def _note(message: str) -> None:
    """What was recovered, cleaned or taken over: one line on stderr (rare, and worth seeing)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def _process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: int, started: int | None = None) -> bool:
    """Whether process ``pid`` (on this host) still runs. A zombie counts as gone; with ``started``
    (its recorded start time), so does another process that was given the same pid since."""
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill would terminate it: assume alive
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    now = _process_start(pid)
    return started is None or now is None or now == started


def _owner_gone(pid: int, host: str) -> bool:
    """A temp folder's writer is known to be dead: it ran on this host and its pid is gone."""
    return host == _HOST_TAG and not _pid_alive(pid)


def _siblings(target: Path) -> list[tuple[Path, re.Match[str]]]:
    """The hidden temp/new/old siblings of ``target`` (see :data:`_SIBLING`), oldest first."""
    prefix = f".{target.name}."
    try:
        entries = [e for e in os.scandir(target.parent) if e.name.startswith(prefix)]
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _SIBLING.match(entry.name)
        if match and match["name"] == target.name:
            try:
                found.append((entry.stat(follow_symlinks=False).st_mtime, Path(entry.path), match))
            except OSError:
                continue
    return [(path, match) for _, path, match in sorted(found, key=lambda item: item[0])]


def recover_folder(target: str | Path) -> list[str]:
    """Finish or undo what a killed writer of ``target`` left beside it; returns what was done.

    A folder is replaced in three renames (:func:`publish_folder`): the complete new folder to
    ``.<name>.new-<id>``, the old one to ``.<name>.old-<id>``, the new one to ``<name>``. A process
    killed between them leaves ``target`` missing. Then, for a dead writer (pid gone on this host):

    * ``.old-<id>`` and ``.new-<id>`` both there: the new one was complete, so the swap is finished
      (new in place, old removed);
    * ``.old-<id>`` alone: the old one is put back.

    Any other temp sibling of a dead writer is removed: ``.tmp-`` folders (a write killed halfway),
    an ``.old-`` left after the new one was in place. Siblings of live processes (a concurrent
    writer) and of other hosts are left alone. Writers call this before writing (:func:`check_target`)
    and checkpoint readers before reading, so the next user of a path repairs it; each action is
    printed as a ``note:`` line.
    """
    target = Path(target)
    siblings = _siblings(target)
    if not siblings:
        return []
    done: list[str] = []
    gone = [(path, m) for path, m in siblings if _owner_gone(int(m["pid"]), m["host"])]
    if not (target.exists() or target.is_symlink()):
        olds = [(path, m) for path, m in gone if m["tag"] == "old"]
        if olds:
            old, match = olds[-1]  # the most recent swap
            new = target.parent / f".{target.name}.new-{match['pid']}-{match['host']}-{match['id']}"
            try:
                if new.is_dir():
                    os.replace(new, target)
                    done.append(f"finished replacing {target}, which a killed process (pid {match['pid']}) "
                                "had left half done: the new version is in place")
                else:
                    os.replace(old, target)
                    done.append(f"restored {target}, which a killed process (pid {match['pid']}) had "
                                "moved aside to replace it")
            except OSError as err:
                done.append(f"could not recover {target} from {old} ({err}); look there")
                gone = [(path, m) for path, m in gone if m["id"] != match["id"]]  # keep both halves
    for path, match in gone:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            done.append(f"removed {path}, left by a killed process (pid {match['pid']})")
        elif path.exists() or path.is_symlink():
            path.unlink(missing_ok=True)
            done.append(f"removed {path}, left by a killed process (pid {match['pid']})")
    for message in done:
        _note(message)
    if done:
        _fsync_dir(target.parent)
    return done


def recover_folders_in(parent: str | Path) -> list[str]:
    """:func:`recover_folder` for every folder in ``parent`` that has temp siblings there (what a
    run's start does for its checkpoints: best/, last/, epoch_NNN/, rllib/)."""
    parent = Path(parent)
    try:
        names = {m["name"] for e in os.scandir(parent) if (m := _SIBLING.match(e.name))}
    except OSError:
        return []
    return [message for name in sorted(names) for message in recover_folder(parent / name)]


# ---- folders ----------------------------------------------------------------------------------------
def temp_sibling(target: str | Path, tag: str = "tmp") -> Path:
    """A new, empty, hidden folder beside ``target`` (same filesystem, so publishing is a rename).

    Its name, ``.<name>.tmp-<pid>-<host>-<random>``, says which process writes it: once that process
    is gone, the next writer or reader of ``target`` removes it (:func:`recover_folder`). ``mkdir``
    honours the umask, unlike ``tempfile.mkdtemp``'s private 0700.
    """
    target = Path(target)
    with storage_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f".{target.name}.{tag}-{_swap_id()}"
        tmp.mkdir()
    return tmp


def _swap_id() -> str:
    return f"{os.getpid()}-{_HOST_TAG}-{uuid.uuid4().hex[:12]}"


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

    ``tmp`` is fsynced first. Nothing at ``target``: one rename. With ``overwrite``, an existing
    folder of ``kind`` (see :func:`check_target`) is swapped in three renames whose names record
    the intent: ``tmp`` to ``.<name>.new-<id>`` (complete), ``target`` to ``.<name>.old-<id>``,
    the new one to ``target``; then the old one is removed. If a rename fails, everything is put
    back; if the process is killed between renames, the next writer or reader of ``target``
    finishes or undoes the swap (:func:`recover_folder`). ``tmp`` is where it was when this raises
    (the caller removes it; :func:`write_folder` does). Storage failures are :class:`StorageError`.
    """
    tmp, target = Path(tmp), Path(target)
    with storage_errors(target):
        check_target(target, overwrite=overwrite, kind=kind, overwrite_hint=overwrite_hint)
        os.chmod(tmp, 0o777 & ~_umask())  # like a plain mkdir, also for a private tempfile.mkdtemp folder
        fsync_tree(tmp)
        if not (target.exists() or target.is_symlink()):
            try:
                os.replace(tmp, target)
            except OSError as err:
                if target.exists():  # someone created a non-empty folder there meanwhile
                    raise FileExistsError(f"{target} appeared while writing; not replacing it") from err
                raise
        else:
            swap = _swap_id()
            new = target.parent / f".{target.name}.new-{swap}"
            aside = target.parent / f".{target.name}.old-{swap}"
            os.replace(tmp, new)  # the name says: complete, ready to be swapped in
            try:
                os.replace(target, aside)
                os.replace(new, target)
            except BaseException:  # a failed rename, or Ctrl-C between or right after them
                if new.exists():  # not swapped in: put everything back
                    if aside.exists() and not target.exists():
                        os.replace(aside, target)
                    os.replace(new, tmp)
                else:  # the new one is in place: only the old one is left to remove
                    shutil.rmtree(aside, ignore_errors=True)
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
    refused). On an exception the temp folder is removed and ``target`` is untouched; a full disk
    (or a read-only or forbidden folder), in the block or while publishing, is a
    :class:`StorageError` naming ``target``.
    """
    target = Path(target)
    check_target(target, overwrite=overwrite, kind=kind, overwrite_hint=overwrite_hint)
    tmp = temp_sibling(target)
    try:
        with storage_errors(target):
            yield tmp
            publish_folder(tmp, target, overwrite=overwrite, kind=kind, overwrite_hint=overwrite_hint)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- locks: one process at a time in a run folder or a tournament -----------------------------------
class FolderInUseError(FileExistsError):
    """Another live process holds the lock of a folder (:func:`folder_lock`)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while :func:`folder_lock` held ``folder``: a script's ``main`` says what was saved there."""

    def __init__(self, folder: Path, what: str) -> None:
        super().__init__(f"interrupted while working in {what} {folder}")
        self.folder = folder
        self.what = what


_HELD: dict[Path, int] = {}  # lock files this process holds -> nesting depth


def lock_file(folder: str | Path) -> Path:
    """Where the lock of ``folder`` lives: ``.<name>.lock`` beside it (so replacing or deleting the
    folder itself never removes its lock)."""
    folder = Path(folder).absolute()
    return folder.parent / f".{folder.name or 'root'}.lock"


def _read_lock(lock: Path) -> tuple[bytes, dict[str, Any] | None] | None:
    """The lock file's bytes and parsed contents (None when not JSON yet); None when it is gone."""
    try:
        raw = lock.read_bytes()
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return raw, None
    return raw, holder if isinstance(holder, dict) and isinstance(holder.get("pid"), int) else None


def _break_stale(lock: Path, raw: bytes) -> bool:
    """Remove ``lock`` if it still holds ``raw`` (the stale contents); one breaker at a time."""
    guard = lock.with_name(lock.name + ".break")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        try:
            if time.time() - guard.stat().st_mtime > 30:  # a breaker that died: its guard is stale too
                guard.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        return False
    os.close(fd)
    try:
        current = _read_lock(lock)
        if current is None or current[0] != raw:
            return False
        lock.unlink(missing_ok=True)
        return True
    finally:
        guard.unlink(missing_ok=True)


def _in_use(folder: Path, lock: Path, holder: dict[str, Any]) -> FolderInUseError:
    where = "" if holder.get("host") == _HOST else f" on {holder.get('host')}"
    doing = ": ".join(str(holder[k]) for k in ("what", "command") if holder.get(k))
    return FolderInUseError(f"{folder} is in use by pid {holder['pid']}{where} since "
                            f"{holder.get('started', '?')}" + (f" ({doing})" if doing else "") +
                            f"; wait for it or remove {lock} if that process is gone")


def _acquire(folder: Path, lock: Path, what: str) -> bytes:
    with storage_errors(lock):
        lock.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"pid": os.getpid(), "host": _HOST, "process_start": _process_start(os.getpid()),
                          "started": datetime.now().astimezone().isoformat(timespec="seconds"),
                          "what": what, "command": " ".join(sys.argv)}).encode()
    deadline = time.monotonic() + 10
    while True:
        try:
            with storage_errors(lock):
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            current = _read_lock(lock)
            if current is None:  # released meanwhile: try again
                continue
            raw, holder = current
            if holder is None:  # being written by its creator, or left empty by one killed right then
                try:
                    young = time.time() - lock.stat().st_mtime < 5
                except FileNotFoundError:
                    continue
                if young and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                reason = "an unreadable lock file"
            elif holder.get("host") != _HOST or _pid_alive(holder["pid"], holder.get("process_start")):
                raise _in_use(folder, lock, holder) from None
            else:
                reason = f"a lock of pid {holder['pid']} (since {holder.get('started', '?')}), which is gone"
            if _break_stale(lock, raw):
                _note(f"took over {folder}: {reason} was left in {lock}")
            elif time.monotonic() > deadline:
                raise FolderInUseError(f"could not lock {folder}: {lock} keeps changing; remove it if no "
                                       "process is using the folder") from None
            else:
                time.sleep(0.05)
            continue
        try:
            os.write(fd, payload)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            lock.unlink(missing_ok=True)
            raise
        os.close(fd)
        return payload


@contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold ``folder`` for this process while the block runs: a training run, a tournament.

    The lock is a file beside the folder (:func:`lock_file`) created atomically (``O_CREAT |
    O_EXCL``) and holding this process's pid, host, start time and command. A second process gets
    :class:`FolderInUseError` ("... is in use by pid N since ...; wait for it or remove LOCK if that
    process is gone"). A lock whose process is gone (its pid not running on this host) is taken
    over, with a ``note:`` line. Nested use in one process is allowed (the outermost block
    releases it). Ctrl-C inside the block becomes :class:`Interrupted` carrying ``folder``. ``what`` names
    the kind of work in messages ("training run", "tournament"). Yields the lock file's path.
    """
    folder = Path(folder).absolute()
    lock = lock_file(folder)
    payload = None
    if lock in _HELD:
        _HELD[lock] += 1
    else:
        payload = _acquire(folder, lock, what)
        _HELD[lock] = 1
    try:
        yield lock
    except KeyboardInterrupt as err:
        if isinstance(err, Interrupted):
            raise
        raise Interrupted(folder, what) from err
    finally:
        _HELD[lock] -= 1
        if not _HELD[lock]:
            del _HELD[lock]
            current = _read_lock(lock)
            if current is not None and current[0] == payload:
                lock.unlink(missing_ok=True)
