"""The figures people look at: bots at the same spot share one label, labels do not overlap, and
legends stay off the curves (evaluation/report.py, evaluation/experiment_results.py, evaluation/online.py)."""

import itertools

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

from evaluation.experiment_results import plot_curves
from evaluation.report import accuracy_vs_win_rate_figure, point_groups


def lecture_scatter() -> pd.DataFrame:
    """The lecture's picture: idle, naive BC and focal all at accuracy ~0.965, win rate 0."""
    rows = {  # label: kind, accuracy, win rate
        "idle": ("scripted", 0.965, 0.000), "none_seed0": ("checkpoint", 0.965, 0.000),
        "focal_seed0": ("checkpoint", 0.964, 0.002), "effective_number_seed0": ("checkpoint", 0.957, 0.118),
        "turtle_club": ("scripted", 0.946, 0.225), "zoner_club": ("scripted", 0.915, 0.325),
        "rushdown_club": ("scripted", 0.887, 0.294), "oversample_seed0": ("checkpoint", 0.866, 0.694),
        "smote_seed0": ("checkpoint", 0.874, 0.602), "turtle": ("scripted", 0.937, 0.619),
        "random": ("scripted", 0.085, 0.170)}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["kind", "accuracy", "win_rate"])
    frame["win_rate_ci_low"] = (frame["win_rate"] - 0.02).clip(lower=0)
    frame["win_rate_ci_high"] = frame["win_rate"] + 0.02
    return frame


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_bots_at_the_same_spot_share_one_marker_and_one_label():
    table = lecture_scatter()
    groups = point_groups(table)
    assert sorted(next(g for g in groups if "idle" in g)) == ["focal_seed0", "idle", "none_seed0"]
    assert sum(len(g) for g in groups) == len(table) and len(groups) == len(table) - 2
    figure = accuracy_vs_win_rate_figure(table)
    ax = figure.axes[0]
    labels = [t.get_text().replace("\n", " ") for t in ax.texts]
    assert len(labels) == len(groups)
    combined = [t for t in labels if "idle" in t]
    assert len(combined) == 1 and "none_seed0" in combined[0] and "focal_seed0" in combined[0]
    assert "checkpoint + scripted" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_labels_do_not_overlap_each_other_and_the_legend_is_outside_the_axes():
    figure = accuracy_vs_win_rate_figure(lecture_scatter())
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not _overlap(a, b), (ax.texts[i].get_text(), ax.texts[j].get_text())
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1  # right of the plotting area


def test_the_curves_legend_does_not_cover_any_panel():
    rows = []
    for run, final in (("none_seed0", 0.0), ("oversample_seed0", 0.8), ("class_weight_seed0", 0.9)):
        for step in range(1, 6):
            for tag, value in (("offline/accuracy", 0.9), ("offline/balanced_accuracy", 0.3),
                               ("online/win_rate", final * step / 5)):
                rows.append({"run": run, "kind": "bc", "step": step, "tag": tag, "value": value})
    figure = plot_curves(pd.DataFrame(rows), "bc")
    canvas = FigureCanvasAgg(figure)  # plot_curves makes a bare Figure (no pyplot)
    canvas.draw()
    renderer = canvas.get_renderer()
    assert len(figure.legends) == 1 and all(ax.get_legend() is None for ax in figure.axes)
    legend = figure.legends[0].get_window_extent(renderer)
    assert [t.get_text() for t in figure.legends[0].get_texts()] == sorted(
        ["none_seed0", "oversample_seed0", "class_weight_seed0"])
    for ax in figure.axes:
        assert not _overlap(legend, ax.get_window_extent(renderer)), ax.get_title()


def test_the_commands_pressed_legend_sits_beside_the_bars():
    from envs.actions import ACTION_NAMES
    from evaluation.online import OnlineResult, action_distribution_figure

    share = pd.Series(np.full(len(ACTION_NAMES), 1 / len(ACTION_NAMES)), index=list(ACTION_NAMES))
    result = OnlineResult.pooled([], action_distribution=share, reference_distribution=share, seed=0)
    figure = action_distribution_figure(result)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
