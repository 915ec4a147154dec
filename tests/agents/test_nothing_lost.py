"""Nothing already saved is lost: kind checks, atomic checkpoints, recoverable swaps, storage errors, locks.

The "killed" cases run a real child process and SIGKILL it (or have it kill itself) at the worst
moment, then check what the next reader or writer finds.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import artifacts
from agents.artifacts import (
    FolderInUseError,
    Interrupted,
    StorageError,
    atomic_write_text,
    folder_lock,
    lock_file,
    publish_folder,
    recover_folder,
    temp_sibling,
)
from agents.checkpoint import WEIGHTS_NAME, load, load_network, save_checkpoint
from agents.networks import PolicyNetwork
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM

ROOT = Path(__file__).resolve().parents[2]
DATASET = "fightlab-logs"


def network(seed: int) -> PolicyNetwork:
    torch.manual_seed(seed)
    return PolicyNetwork(OBS_DIM, NUM_ACTIONS, (8,))


def weights(path: Path) -> dict[str, np.ndarray]:
    net, _ = load_network(path)
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def same(a: dict[str, np.ndarray], b: PolicyNetwork) -> bool:
    return all(np.array_equal(a[k], v.detach().numpy()) for k, v in b.state_dict().items())


def child(code: str, **kwargs) -> subprocess.Popen:
    """A Python child in the repository root, running ``code``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if expected in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child ended ({proc.returncode}) before {expected!r}: {proc.stderr.read()}")
    proc.kill()
    raise AssertionError(f"child did not print {expected!r} in {timeout} s")


def dataset_folder(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    atomic_write_text(path / "manifest.json", json.dumps({"format": DATASET, "marker": marker}))
    return path


def marker(path: Path) -> str:
    return json.loads((path / "manifest.json").read_text())["marker"]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---- 1. a writer replaces only a folder of its own kind -------------------------------------------
def test_dataset_writer_with_overwrite_refuses_a_checkpoint_and_it_still_loads(tmp_path):
    from datasets.writer import DatasetWriter

    ckpt = save_checkpoint(tmp_path / "ckpt", network(0))
    before = weights(ckpt)
    with pytest.raises(FileExistsError, match=r"is not a FightLab dataset \(it is a FightLab checkpoint"):
        DatasetWriter(ckpt, overwrite=True)
    after = weights(ckpt)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert hidden(tmp_path) == []


def test_importer_cli_with_overwrite_refuses_a_checkpoint(tmp_path, capsys):
    from datasets import importer

    ckpt = save_checkpoint(tmp_path / "ckpt", network(0))
    log = tmp_path / "logs.csv"
    log.write_text("match_id,frame\n0,0\n")
    assert importer.main([str(log), "--out", str(ckpt), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "is not a FightLab dataset" in err and "FightLab checkpoint" in err and "Traceback" not in err
    load(ckpt)


def test_export_bundle_never_replaces_a_checkpoint(tmp_path):
    from agents.export import ExportError, commit_bundle

    ckpt = save_checkpoint(tmp_path / "ckpt", network(0))
    staging = temp_sibling(ckpt)
    with pytest.raises(ExportError, match="is not an exported FightLab bot"):
        commit_bundle(staging, ckpt, overwrite=True)
    load(ckpt)


def test_tournament_out_dir_must_be_a_tournament_folder(tmp_path):
    from evaluation.participants import resolve_participants
    from evaluation.tournament import run_tournament

    players, _ = resolve_participants(["idle", "random"], [])
    ckpt = save_checkpoint(tmp_path / "ckpt", network(0))
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text("{}")
    for out_dir, says in ((ckpt, "is a FightLab checkpoint"), (run, "holds results.json but no")):
        with pytest.raises(FileExistsError, match=says):
            run_tournament(players, out_dir=out_dir, matches_per_pairing=2, overwrite=True, progress=False)
    assert not (ckpt / "matches.jsonl").exists() and (run / "results.json").read_text() == "{}"
    load(ckpt)


def test_a_run_folder_is_never_a_checkpoint_or_a_tournament_and_one_without_checkpoints_restarts(tmp_path):
    from train import RunConfig, TrainError, prepare_run_directory

    tournament = tmp_path / "tournament"
    tournament.mkdir()
    (tournament / "matches.jsonl").write_text('{"type": "header"}\n')
    (tournament / "results.json").write_text("{}")  # a run folder has one too
    ckpt = save_checkpoint(tmp_path / "ckpt", network(0))
    for folder, says in ((tournament, "is a FightLab tournament"), (ckpt, "is a FightLab checkpoint")):
        with pytest.raises(TrainError, match=says):
            prepare_run_directory(folder, RunConfig(overwrite=True), {})
    assert (tournament / "matches.jsonl").is_file()
    load(ckpt)
    # a run that failed before its first checkpoint: config.yaml and TensorBoard events only
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "config.yaml").write_text("seed: 0\n")
    (failed / "events.out.tfevents.1.host").write_bytes(b"\0")
    assert prepare_run_directory(failed, RunConfig(), {}) is None
    assert failed.is_dir() and not any(failed.iterdir())


# ---- 2. checkpoints are atomic; a full disk is a clear error ---------------------------------------
def test_killed_between_weights_and_manifest_leaves_the_previous_checkpoint(tmp_path):
    last = tmp_path / "run" / "last"
    save_checkpoint(last, network(0))
    before = weights(last)
    proc = child(f"""
        import time
        import agents.checkpoint as checkpoint
        from agents.networks import PolicyNetwork

        def pause(path):  # called after the weights are written, before the manifest
            print("paused", flush=True)
            time.sleep(600)

        checkpoint.sha256_file = pause
        checkpoint.save_checkpoint({str(last)!r}, PolicyNetwork({OBS_DIM}, {NUM_ACTIONS}, (8,)))
    """)
    try:
        wait_for_line(proc, "paused")
        orphans = [p for p in hidden(last.parent) if p.startswith(".last.tmp-")]
        assert len(orphans) == 1 and (last.parent / orphans[0] / WEIGHTS_NAME).is_file()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    after = weights(last)  # the previous checkpoint, whole
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert hidden(last.parent) == orphans  # the killed save's temp folder, nothing else
    # the next save of that folder removes what the killed process left
    save_checkpoint(last, network(1))
    assert hidden(last.parent) == [] and same(weights(last), network(1))


@pytest.mark.parametrize("raised", [OSError(errno.ENOSPC, "No space left on device"),
                                    RuntimeError('Error while serializing: IoError(Os { code: 28, kind: '
                                                 'StorageFull, message: "No space left on device" })')])
def test_a_full_disk_names_the_checkpoint_and_keeps_the_previous_one(tmp_path, monkeypatch, raised):
    import agents.checkpoint

    last = tmp_path / "last"
    save_checkpoint(last, network(0))
    before = weights(last)

    def full(*args, **kwargs):
        raise raised

    monkeypatch.setattr(agents.checkpoint, "save_file", full)
    with pytest.raises(StorageError) as caught:
        save_checkpoint(last, network(1))
    assert str(caught.value) == f"no space left on device while writing {last}"
    assert caught.value.errno == errno.ENOSPC
    after = weights(last)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert hidden(tmp_path) == []


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "no space left on device"),
                                        (errno.EROFS, "read-only file system"),
                                        (errno.EACCES, "permission denied")])
def test_storage_errors_of_a_file_write_name_the_file(tmp_path, code, words):
    target = atomic_write_text(tmp_path / "results.json", "old")
    with pytest.raises(StorageError, match=f"^{words} while writing {target}$"):
        with artifacts.atomic_path(target):
            raise OSError(code, os.strerror(code))
    assert target.read_text() == "old" and hidden(tmp_path) == []
    with pytest.raises(ValueError, match="not a storage error"):  # anything else passes unchanged
        with artifacts.atomic_path(target):
            raise ValueError("not a storage error")


# ---- 3. a replacement killed between its renames is finished or undone ----------------------------
KILL_AFTER_ASIDE = """
    import os, signal
    real = os.replace

    def replace(src, dst):
        real(src, dst)
        if ".old-" in os.fspath(dst):  # the old folder is aside, the new one not yet in place
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace
"""


def publish_killed_between_renames(target):
    """A child process publishes a new dataset over ``target`` and is killed between the renames."""
    proc = child(KILL_AFTER_ASIDE + f"""
    from agents.artifacts import atomic_write_text, publish_folder, temp_sibling
    tmp = temp_sibling({str(target)!r})
    atomic_write_text(tmp / "manifest.json", '{{"format": "{DATASET}", "marker": "new"}}')
    publish_folder(tmp, {str(target)!r}, overwrite=True, kind="{DATASET}")
    """)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()


def test_dataset_swap_killed_between_renames_is_finished_by_the_next_writer(tmp_path):
    target = dataset_folder(tmp_path / "data", "old")
    publish_killed_between_renames(target)
    assert not target.exists()  # neither at the path: what a death between the renames leaves
    assert [n.split("-")[0] for n in hidden(tmp_path)] == [".data.new", ".data.old"]
    # the next writer of the path sees the complete new one beside the old: it finishes the swap
    from datasets.writer import check_target

    with pytest.raises(FileExistsError, match="already exists"):
        check_target(target, overwrite=False)
    assert marker(target) == "new" and hidden(tmp_path) == []


def test_swap_killed_before_the_new_folder_was_complete_restores_the_old_one(tmp_path, capsys):
    target = dataset_folder(tmp_path / "data", "old")
    publish_killed_between_renames(target)
    new = next(tmp_path.glob(".data.new-*"))
    for file in new.iterdir():  # as if the new one had not been marked complete
        file.unlink()
    new.rmdir()
    assert recover_folder(target) and marker(target) == "old" and hidden(tmp_path) == []
    assert "note: restored" in capsys.readouterr().err


def test_checkpoint_swap_killed_between_renames_is_recovered_by_the_next_load(tmp_path):
    last = tmp_path / "last"
    save_checkpoint(last, network(0))
    proc = child(KILL_AFTER_ASIDE + f"""
    from agents.checkpoint import save_checkpoint
    from agents.networks import PolicyNetwork
    import torch
    torch.manual_seed(1)
    save_checkpoint({str(last)!r}, PolicyNetwork({OBS_DIM}, {NUM_ACTIONS}, (8,)))
    """)
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL and not last.exists()
    load(last)  # the reader finishes the swap: the new, complete checkpoint is in place
    assert same(weights(last), network(1)) and hidden(tmp_path) == []


@pytest.mark.parametrize("failing", [2, 3])  # 1: tmp -> .new, 2: old -> .old, 3: .new -> target
def test_a_rename_that_fails_mid_swap_puts_everything_back(tmp_path, monkeypatch, failing):
    target = dataset_folder(tmp_path / "data", "old")
    tmp = temp_sibling(target)
    atomic_write_text(tmp / "manifest.json", json.dumps({"format": DATASET, "marker": "new"}))
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == failing:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", replace)
    with pytest.raises(OSError, match="cross-device"):
        publish_folder(tmp, target, overwrite=True, kind=DATASET)
    monkeypatch.setattr(artifacts.os, "replace", real)
    assert marker(target) == "old" and marker(tmp) == "new"  # as before; the caller removes tmp
    assert hidden(tmp_path) == [tmp.name]


def test_temp_folders_of_a_live_writer_are_left_alone(tmp_path):
    target = dataset_folder(tmp_path / "data", "old")
    mine = temp_sibling(target)  # this process is alive: it may still be writing it
    assert recover_folder(target) == [] and mine.is_dir()
    publish_folder(mine, target, overwrite=True, kind=DATASET)
    assert hidden(tmp_path) == []


# ---- 5. locks ------------------------------------------------------------------------------------
def hold_lock(folder: Path) -> subprocess.Popen:
    proc = child(f"""
        import time
        from agents.artifacts import folder_lock
        with folder_lock({str(folder)!r}, "tournament"):
            print("locked", flush=True)
            time.sleep(600)
    """)
    wait_for_line(proc, "locked")
    return proc


def test_a_second_process_is_told_who_holds_the_folder(tmp_path):
    folder = tmp_path / "tournament"
    proc = hold_lock(folder)
    try:
        with pytest.raises(FolderInUseError) as caught:
            with folder_lock(folder, "tournament"):
                pass
        message = str(caught.value)
        assert f"{folder} is in use by pid {proc.pid} since " in message
        assert f"wait for it or remove {lock_file(folder)} if that process is gone" in message
        from evaluation.participants import resolve_participants
        from evaluation.tournament import run_tournament

        players, _ = resolve_participants(["idle", "random"], [])
        with pytest.raises(FolderInUseError, match=f"in use by pid {proc.pid}"):
            run_tournament(players, out_dir=folder, matches_per_pairing=2, resume=True, progress=False)
        assert not (folder / "matches.jsonl").exists()
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    folder = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    lock = lock_file(folder)
    lock.write_text(json.dumps({"pid": pid, "host": artifacts._HOST, "started": "2020-01-01T00:00:00",
                                "what": "training run", "command": "train.py"}))
    with folder_lock(folder, "training run") as held:
        assert held == lock and json.loads(lock.read_text())["pid"] == os.getpid()
        with folder_lock(folder, "training run"):  # the same process may nest
            pass
        assert lock.exists()
    assert not lock.exists()
    err = capsys.readouterr().err
    assert f"took over {folder.absolute()}: a lock of pid {pid}" in err and "which is gone" in err


def test_a_lock_from_another_host_is_not_taken_over(tmp_path):
    folder = tmp_path / "run"
    lock_file(folder).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "then"}))
    with pytest.raises(FolderInUseError, match="in use by pid 1 on elsewhere since then"):
        with folder_lock(folder, "training run"):
            pass


def test_ctrl_c_inside_a_lock_says_which_folder(tmp_path):
    with pytest.raises(Interrupted) as caught:
        with folder_lock(tmp_path / "run", "training run"):
            raise KeyboardInterrupt
    assert caught.value.folder == (tmp_path / "run").absolute() and not lock_file(tmp_path / "run").exists()
