"""The answer rules on real outputs: what SmolLM2-135M-Instruct wrote for lc_283 (rf_1shot and direct, lengths 1-2,
greedy, chat template; tests/evaluate/fixtures/smollm2_lc_283.jsonl, saved from `python -m meta_rfft.evaluate`),
scored strictly and leniently as the evaluator scores them (the format's answers.AnswerRule)."""
import json
import pathlib

import pytest

from meta_rfft.tasks import formats

ROWS = [json.loads(line) for line in (pathlib.Path(__file__).parent / "fixtures" / "smollm2_lc_283.jsonl").open()]

# (format, length, seed) -> (strict, lenient), checked by reading each output.
EXPECTED = {
    ("rf_1shot", 1, 7000000): (False, True),   # "...\n\nThe answer is [0]": only a lenient reading finds it
    ("rf_1shot", 1, 7000001): (False, False),  # "So the answer is [3, 3]" for [3]
    ("rf_1shot", 1, 7000002): (True, True),    # "So the answer is [18]\n\nQ:": the made-up next question is cut
    ("rf_1shot", 2, 7000000): (True, True),
    ("rf_1shot", 2, 7000001): (False, False),  # [0, 3] for [3, 0]
    ("rf_1shot", 2, 7000002): (True, True),
    ("direct", 1, 7000000): (False, False),    # "nums = [0]": an assignment, not an answer
    ("direct", 1, 7000001): (False, False),    # "The answer is [" cut off
    ("direct", 1, 7000002): (False, False),
    ("direct", 2, 7000000): (False, False),
    ("direct", 2, 7000001): (False, False),    # "The output is [0, 3]." for [3, 0]
    ("direct", 2, 7000002): (False, True),     # "...\nThe answer is [2, 0]"
}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['format']}-{r['length']}-{r['seed']}")
def test_real_outputs_score_strictly_and_leniently(row):
  rule = formats.answer_rule(row["format"])
  scored = tuple(rule.matches(rule.parse(row["output"], mode), row["reference"], mode)
                 for mode in ("strict", "lenient"))
  assert scored == EXPECTED[(row["format"], row["length"], row["seed"])], row["output"]


def test_the_fixture_is_every_expected_row():
  assert sorted((r["format"], r["length"], r["seed"]) for r in ROWS) == sorted(EXPECTED)
