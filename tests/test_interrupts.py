"""The scripts as a user runs them when things go wrong: Ctrl-C, a full disk, a folder in use, a wrong
``out=``. Each answers with one line (what is saved, what to run next), never a traceback, and
nothing already saved is lost."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agents.checkpoint import load, read_manifest, save_checkpoint
from agents.networks import PolicyNetwork
from envs.actions import NUM_ACTIONS
from envs.observation import OBS_DIM

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
FAST = ("eval.opponents=[random]", "eval.matches_per_opponent=2", "eval.final_matches_per_opponent=2",
        "agent.hidden_sizes=[16]", "train.progress=false", "agent.device=cpu")


def start(*command: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *command], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until(condition, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"ended early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"condition not met in {timeout} s")
        time.sleep(0.1)


def interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    return out, err


def test_ctrl_c_in_training_says_what_is_saved_and_the_resume_command_works(tiny_dataset, tmp_path):
    run_dir = tmp_path / "runs" / "bc" / "none_seed0"
    # a run that failed before its first checkpoint left this: it must not block the rerun
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    (run_dir / "events.out.tfevents.0.host").write_bytes(b"\0")
    args = (str(ROOT / "train.py"), f"eval.dataset.path={tiny_dataset}", "agent.epochs=500", *FAST)
    proc = start(*args, cwd=tmp_path)
    wait_until(lambda: (run_dir / "last" / "manifest.json").is_file(), proc)
    _, err = interrupt(proc)
    line = err.strip().splitlines()[-1]
    match = re.fullmatch(r"interrupted: (\S+) has last/ at epoch (\d+); resume with (python train\.py .*)",
                         line)
    assert match, err
    assert Path(match[1]) == run_dir and match[3].endswith(" train.resume=true")
    epoch = int(match[2])
    assert read_manifest(run_dir / "last")["step"] == epoch
    assert not (run_dir.parent / ".none_seed0.lock").exists()  # the lock went with the process
    # the printed command resumes (one more epoch, so the test stays short)
    command = shlex.split(match[3])[1:]
    command[0] = str(ROOT / command[0])
    resumed = subprocess.run([sys.executable, *command, f"agent.epochs={epoch + 1}"], cwd=tmp_path, env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"after epoch {epoch}" in resumed.stderr and read_manifest(run_dir / "last")["step"] == epoch + 1


def test_a_full_disk_in_training_is_one_line_and_keeps_the_last_checkpoint(tiny_dataset, tmp_path):
    """The third checkpoint write (epoch 2) hits ENOSPC: one message naming the folder, no traceback."""
    code = textwrap.dedent(f"""
        import errno, runpy, sys
        import agents.checkpoint as checkpoint
        real, calls = checkpoint.save_file, []

        def save_file(*args, **kwargs):
            calls.append(1)
            if len(calls) > 2:  # best/ and last/ of epoch 1 are written, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)

        checkpoint.save_file = save_file
        sys.argv = {[str(ROOT / "train.py"), f"eval.dataset.path={tiny_dataset}", "agent.epochs=3", *FAST]!r}
        runpy.run_path(sys.argv[0], run_name="__main__")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                         timeout=300)
    run_dir = Path("runs/bc/none_seed0")
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    written = re.escape(str(tmp_path / run_dir))
    expected = rf"train\.py: no space left on device while writing {written}/(best|last)$"
    assert re.search(expected, out.stderr.strip()), out.stderr
    last = tmp_path / run_dir / "last"
    assert read_manifest(last)["step"] == 1
    load(last)
    assert not [p for p in last.parent.iterdir() if p.name.startswith(".")]


def tournament_args(out: str, *extra: str) -> tuple[str, ...]:
    return (str(ROOT / "tournament.py"), "tournament.participants=[footsies,idle,random]",
            "tournament.globs=[]", f"tournament.out_dir={out}", "report.enabled=false",
            "tournament.progress=false", *extra)


def test_ctrl_c_in_a_tournament_says_how_many_matches_are_logged(tmp_path):
    args = tournament_args("out", "tournament.matches_per_pairing=400", "tournament.block_matches=2",
                           "tournament.wave_matches=2")
    proc = start(*args, cwd=tmp_path)
    log = tmp_path / "out" / "matches.jsonl"
    wait_until(lambda: log.is_file() and len(log.read_text().splitlines()) >= 3, proc)
    _, err = interrupt(proc)
    line = err.strip().splitlines()[-1]
    match = re.fullmatch(r"interrupted: (\d+) matches are in (\S+); resume with (python tournament\.py .*)",
                         line)
    assert match, err
    logged = sum(len(json.loads(row)["matches"]) for row in log.read_text().splitlines()[1:])
    assert int(match[1]) == logged >= 4 and Path(match[2]) == log
    assert match[3].endswith(" tournament.resume=true") and "tournament.out_dir=out" in match[3]
    assert not (tmp_path / ".out.lock").exists()


def test_a_second_tournament_on_the_same_folder_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from agents.artifacts import folder_lock
        with folder_lock({str(tmp_path / "out")!r}, "tournament"):
            print("locked", flush=True)
            time.sleep(600)
    """)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, *tournament_args("out", "tournament.resume=true")],
                                cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
        assert second.returncode != 0 and "Traceback" not in second.stderr
        assert f"is in use by pid {holder.pid} since" in second.stderr, second.stderr
        assert "wait for it or remove" in second.stderr and not (tmp_path / "out" / "matches.jsonl").exists()
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_generate_with_overwrite_never_replaces_a_checkpoint(tmp_path):
    ckpt = save_checkpoint(tmp_path / "ckpt", PolicyNetwork(OBS_DIM, NUM_ACTIONS, (8,)))
    before = (ckpt / "model.safetensors").read_bytes()
    out = subprocess.run([sys.executable, "-m", "datasets.generate", "players=[rushdown]",
                          "matches_per_pairing=2", f"out={ckpt}", "overwrite=true", "progress=false"],
                         cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "is not a FightLab dataset (it is a FightLab checkpoint" in out.stderr, out.stderr
    assert (ckpt / "model.safetensors").read_bytes() == before
    load(ckpt)


def test_ctrl_c_in_an_experiment_says_to_rerun_the_same_command(tmp_path):
    """Ctrl-C reaches experiment.py while a step runs (here: as the step starts)."""
    code = textwrap.dedent(f"""
        import runpy, subprocess, sys

        def step(*args, **kwargs):
            raise KeyboardInterrupt

        subprocess.run = step
        sys.argv = {[str(ROOT / "experiment.py"), "scale=small", "scale.dataset_matches_per_pairing=null",
                     f"logdir={tmp_path}"]!r}
        runpy.run_path(sys.argv[0], run_name="__main__")
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 130 and "Traceback" not in out.stderr, out.stderr
    line = out.stderr.strip().splitlines()[-1]
    assert line.startswith(f"interrupted: experiment {tmp_path}/lecture_small stopped; rerun the same")
    assert "python experiment.py scale=small scale.dataset_matches_per_pairing=null" in line
