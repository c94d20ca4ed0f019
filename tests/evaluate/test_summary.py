"""The summary table and bench's one markdown table writer, checked character by character."""

from __future__ import annotations

import pandas as pd

from bench.evaluate.summary import markdown_table, summary_table, to_markdown


def test_markdown_table_aligns_escapes_and_keeps_a_cell_on_one_line():
    text = markdown_table(["name", "max |diff|", "n"], [["a|b", "two\nlines", 3], ["", "x", 10]], [False, False, True])
    assert text == (
        "| name | max \\|diff\\| | n |\n"
        "|---|---|---:|\n"
        "| a\\|b | two lines | 3 |\n"
        "|  | x | 10 |"
    )


def test_markdown_table_is_left_aligned_by_default():
    assert markdown_table(["a", "b"], []) == "| a | b |\n|---|---|"


def test_summary_markdown_by_hand():
    metrics = pd.DataFrame(
        [("d1", "bm25", "nDCG@10", 0.5), ("d1", "bm25>>x", "nDCG@10", 0.75), ("d1", "bm25", "R@100", 0.9)],
        columns=["dataset", "system", "measure", "value"],
    )
    assert to_markdown(summary_table(metrics)) == (
        "| system (nDCG@10) | d1 | avg | Δ vs first stage |\n"
        "|---|---:|---:|---:|\n"
        "| bm25 | 0.5000 | 0.5000 |  |\n"
        "| bm25>>x | 0.7500 | 0.7500 | +0.2500 |\n"
    )
    assert to_markdown(summary_table(metrics, "P@5"), "P@5") == "(no P@5 values)\n"
