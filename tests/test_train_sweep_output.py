"""``python train.py -m ...`` as a researcher runs it, output piped to a log: one summary table over
the sweep, each run's folder said first, plain progress lines (no cursor moves), intervals on one
line, and a TensorBoard layout that puts each run's offline and online curves in one chart."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ("eval.opponents=[random,rushdown_club]", "eval.matches_per_opponent=2",
        "eval.final_matches_per_opponent=2", "agent.hidden_sizes=[32]", "agent.device=cpu", "agent.epochs=1",
        "train.torch_threads=1")
INTERVAL = re.compile(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]")


@pytest.fixture(scope="module")
def sweep(tiny_dataset, tmp_path_factory):
    """Two BC runs in one multirun, progress bars on (the default), stdout and stderr piped."""
    cwd = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "agent.rebalance=none,oversample",
                          f"eval.dataset.path={tiny_dataset}", *FAST, "experiment=sweep"],
                         cwd=cwd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    (sweep_dir,) = (cwd / "multirun" / "sweep").iterdir()
    return cwd, sweep_dir, out


def test_the_sweep_ends_with_one_table_of_its_runs(sweep):
    cwd, sweep_dir, out = sweep
    assert out.stdout.count(f"sweep multirun/sweep/{sweep_dir.name}") == 1
    summary = out.stdout[out.stdout.index(f"sweep multirun/sweep/{sweep_dir.name}"):]
    for name in ("none", "oversample"):
        results = json.loads((cwd / "runs" / "sweep" / f"{name}_seed0" / "results.json").read_text())
        row = next(line for line in summary.splitlines() if f"runs/sweep/{name}_seed0" in line)
        assert f"agent.rebalance={name} " in row  # the override that differs, and only that one
        assert "eval." not in row and "agent.epochs" not in row
        test = results["test"]
        assert f"{test['accuracy']:.3f}" in row and f"{test['balanced_accuracy']:.3f}" in row
        online = results["online"]
        assert (f"{online['win_rate']:.3f} [{online['win_rate_ci_low']:.3f}, "
                f"{online['win_rate_ci_high']:.3f}]") in row
    with (sweep_dir / "sweep_summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["overrides"] for r in rows] == ["agent.rebalance=none", "agent.rebalance=oversample"]
    assert rows[1]["run_folder"] == str(cwd / "runs" / "sweep" / "oversample_seed0")
    markdown = (sweep_dir / "sweep_summary.md").read_text()
    assert "| run folder | overrides |" in markdown and "runs/sweep/oversample_seed0" in markdown


def test_each_run_says_its_folder_before_anything_else(sweep):
    cwd, _, out = sweep
    for name in ("none_seed0", "oversample_seed0"):
        said = out.stderr.index(f"run folder: {cwd / 'runs' / 'sweep' / name}")
        assert said < out.stderr.index(f"{name}:")  # before its progress


def test_piped_output_has_plain_progress_lines_and_whole_intervals(sweep):
    _, _, out = sweep
    both = out.stdout + out.stderr
    assert "\x1b[A" not in both and "\r" not in both
    assert "online eval" not in out.stderr  # the nested bar is a terminal-only thing
    epoch_lines = [line for line in out.stderr.splitlines() if line.startswith("none_seed0:")]
    assert epoch_lines and "1/1" in epoch_lines[-1] and "acc=" in epoch_lines[-1]
    # 80 columns, yet each final table's interval stays on one line (2 runs + 2 summary rows)
    assert len(INTERVAL.findall(out.stdout)) == 4


def test_tensorboard_layout_charts_the_tags_the_run_writes(sweep):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata
    from tensorboard.util import tensor_util

    cwd, _, _ = sweep
    run_dir = cwd / "runs" / "sweep" / "oversample_seed0"
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0}).Reload()
    written = set(events.Tags()["scalars"])
    tag = custom_scalar_metadata.CONFIG_SUMMARY_TAG
    assert tag in events.Tags()["tensors"]
    serialized = tensor_util.make_ndarray(events.Tensors(tag)[0].tensor_proto).item()
    layout = layout_pb2.Layout.FromString(serialized)
    charts = {chart.title: chart for category in layout.category for chart in category.chart}

    def matched(chart) -> list[str]:
        return sorted({t for pattern in chart.multiline.tag for t in written if re.search(pattern, t)})

    # ONE chart holds the offline and the online metric of the run
    together = matched(charts["accuracy, balanced accuracy and win rate"])
    assert together == ["offline/accuracy", "offline/balanced_accuracy", "online/win_rate"]
    margin = charts["win rate (95% Wilson interval)"].margin.series[0]
    assert {margin.value, margin.lower, margin.upper} <= written
    assert matched(charts["win rate vs each opponent"]) == ["online/win_rate_vs_random",
                                                             "online/win_rate_vs_rushdown_club"]
    assert matched(charts["losses"]) == ["train/loss"]
    # the HParams table is still there
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(
        events.PluginTagToContent("hparams"))
