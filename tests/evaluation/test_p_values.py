"""p-values are never shown as 0.000: tables say <0.001, sentences p<0.001."""

import math

import pandas as pd

from evaluation.experiment_results import _correlation_sentence
from evaluation.report import best_predictor_sentence, report_markdown
from evaluation.standings import format_p_value, markdown_table, p_value_text


def correlations(p: float) -> pd.DataFrame:
    return pd.DataFrame({"n": [22, 22], "spearman": [0.74, -0.51], "spearman_p": [p, 0.015],
                         "kendall": [0.56, -0.38], "kendall_p": [p * 3, 0.0134]},
                        index=pd.Index(["mean_skill_recall", "accuracy"], name="metric"))


def test_small_p_values_read_below_the_threshold_not_zero():
    assert format_p_value(8.3e-05) == "<0.001" and format_p_value(0.0) == "<0.001"
    assert format_p_value(0.0134) == "0.013" and format_p_value(math.nan) == ""
    assert p_value_text(1e-9) == "p<0.001" and p_value_text(0.2) == "p=0.200"


def test_tables_and_sentences_show_small_p_values_as_below_0_001():
    corr = correlations(8.3e-05)
    table = markdown_table(corr.reset_index())
    assert "0.000" not in table and table.count("<0.001") == 2 and "| 0.013 |" in table
    assert "| 0.740 |" in table  # other floats keep their places
    sentence = best_predictor_sentence(corr)
    assert "p<0.001" in sentence and "p=0" not in sentence
    assert "p<0.001" in " ".join(_correlation_sentence(corr))
    bots = pd.DataFrame({"win_rate": [0.5]}, index=["idle"])
    assert "0.000" not in report_markdown(bots, corr, sentence)
