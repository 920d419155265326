"""avdm.markdown_table: the one formatter of RESULTS.md, the benchmark summary and the seed comparison."""
import math

import numpy as np

from avdm.markdown_table import number, row, table


def test_number_rounds_to_the_digits_and_signs_on_request():
    assert number(0.12345) == "0.123"
    assert number(2.5, 0) == "2" and number(3.5, 0) == "4"  # Python's round-half-even, as f-strings do
    assert number(7, 2) == "7.00"
    assert number(0.1, 3, sign=True) == "+0.100" and number(-0.1, 3, sign=True) == "-0.100"
    assert number(np.float32(0.5), 2) == "0.50" and number(np.int64(3), 0) == "3"


def test_number_gives_the_missing_mark_for_what_is_not_a_finite_number():
    for v in (None, math.nan, math.inf, -math.inf, True, "0.5", {"mean": 1.0}):
        assert number(v) == "-", v
    assert number(None, missing="–") == "–" and number(math.nan, 2, sign=True, missing="–") == "–"


def test_table_is_header_rule_and_rows():
    assert table(["a", "b c"], [[1, "x"], ["-", 0.5]]) == ["| a | b c |", "|---|---|", "| 1 | x |", "| - | 0.5 |"]
    assert table(["only"]) == ["| only |", "|---|"]
    assert row(["a", None, 2]) == "| a | None | 2 |"
