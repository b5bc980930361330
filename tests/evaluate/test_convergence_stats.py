"""The study's statistics against scipy and an independent task bootstrap, on fixed tables."""
import numpy as np
import pytest
from scipy import stats as sp

from meta_rfft.evaluate.convergence import stats, tables

# Accuracies of 8 tasks at 3 length buckets: (in-context arm, Direct).
X = np.array([[0.9, 0.6, 0.2], [0.5, 0.3, 0.0], [1.0, 0.9, 0.7], [0.2, 0.1, 0.0], [0.7, 0.4, 0.4],
              [0.3, 0.3, 0.1], [0.8, 0.5, 0.1], [0.6, 0.2, 0.0]])
Y = np.array([[1.0, 0.7, 0.3], [0.7, 0.2, 0.1], [1.0, 1.0, 0.9], [0.6, 0.1, 0.0], [0.9, 0.3, 0.5],
              [0.2, 0.4, 0.0], [0.9, 0.8, 0.2], [0.9, 0.1, 0.1]])
CELLS = {f"t{i}": {b: (X[i, j], Y[i, j]) for j, b in enumerate(("1-2", "3-4", "5"))} for i in range(len(X))}


def test_coefficients_are_scipys():
  got = stats.correlate(CELLS, resamples=100)
  for unit, (x, y) in (("over_tasks", (X.mean(1), Y.mean(1))), ("over_cells", (X.ravel(), Y.ravel()))):
    for method, fn in (("spearman", sp.spearmanr), ("pearson", sp.pearsonr), ("kendall", sp.kendalltau)):
      want = fn(x, y)
      assert got[unit][method]["r"] == pytest.approx(want.statistic, abs=1e-12), (unit, method)
      assert got[unit][method]["p"] == pytest.approx(want.pvalue, rel=1e-9), (unit, method)
      assert got[unit][method]["n"] == len(x)


def test_interval_over_tasks_is_scipys_bootstrap():
  got = stats.correlate(CELLS, resamples=500, confidence=0.9, seed=3)["over_tasks"]["spearman"]
  want = sp.bootstrap((X.mean(1), Y.mean(1)), lambda a, b: sp.spearmanr(a, b).statistic, paired=True,
                      vectorized=False, n_resamples=500, confidence_level=0.9, method="percentile",
                      rng=np.random.default_rng(3))
  # the same resampled task indices: scipy draws them alike for one index array and for a paired sample
  assert got["undefined"] == 0
  assert (got["low"], got["high"]) == pytest.approx(tuple(want.confidence_interval), abs=1e-12)
  assert got["low"] <= stats.correlate(CELLS, resamples=10)["over_tasks"]["spearman"]["r"] <= got["high"]


def test_interval_over_cells_resamples_whole_tasks():
  """An independent numpy bootstrap that draws tasks (each bringing its three cells) agrees within noise."""
  got = stats.correlate(CELLS, resamples=2000, seed=0)["over_cells"]["pearson"]
  rng = np.random.default_rng(123)
  rs = []
  for _ in range(4000):
    idx = rng.integers(0, len(X), len(X))
    x, y = X[idx].ravel(), Y[idx].ravel()
    if np.ptp(x) and np.ptp(y):
      rs.append(np.corrcoef(x, y)[0, 1])
  low, high = np.percentile(rs, [2.5, 97.5])
  assert got["low"] == pytest.approx(low, abs=0.03) and got["high"] == pytest.approx(high, abs=0.03)


def test_undefined_where_one_side_is_constant_or_too_few_tasks():
  flat = {t: {"1": (0.0, y)} for t, y in zip("abcd", (0.1, 0.5, 0.2, 0.9))}
  e = stats.correlate(flat, resamples=50)["over_tasks"]["spearman"]
  assert e["r"] is None and e["low"] is None and e["undefined"] == 50
  two = {"a": {"1": (0.1, 0.2)}, "b": {"1": (0.5, 0.4)}}
  assert stats.correlate(two, resamples=50)["over_tasks"]["pearson"]["r"] is None
  assert stats.linear_fit([0.5, 0.5], [0.1, 0.9]) is None
  slope, intercept = stats.linear_fit([0.0, 0.5, 1.0], [0.2, 0.45, 0.7])
  assert (slope, intercept) == pytest.approx((0.5, 0.2))


def test_length_buckets():
  assert tables.parse_buckets("", [1, 2, 3]) == [("1", [1]), ("2", [2]), ("3", [3])]
  assert tables.parse_buckets("1-2,3-5", [1, 2, 3, 4]) == [("1-2", [1, 2]), ("3-5", [3, 4])]
  with pytest.raises(ValueError, match=r"config.length_buckets.*leaves lengths \[5\]"):
    tables.parse_buckets("1-4", [1, 5])
  with pytest.raises(ValueError, match="length 2 is in both"):
    tables.parse_buckets("1-2,2-3", [1, 2, 3])
  with pytest.raises(ValueError, match="cannot parse 'x'"):
    tables.parse_buckets("x", [1])


def test_seen_tasks_come_from_the_base_run(tmp_path):
  import json
  from meta_rfft.evaluate.convergence import runs
  run = tmp_path / "rf_pretrain"
  (run / "checkpoints" / "100").mkdir(parents=True)
  (run / "config.json").write_text(json.dumps(
      {"config": {"data": {"mixture": "rf_pretrain", "build": {"tasks": "lc_283,lc_2057,lc_268"}}}}))
  assert runs.seen_tasks("", str(run)) == {"lc_2057", "lc_268"}  # lc_283 is held out: not in the mixture
  assert runs.seen_tasks("", str(run / "checkpoints" / "100")) == {"lc_2057", "lc_268"}
  assert runs.seen_tasks("none", str(run)) == set()
  assert runs.seen_tasks("lc_283", str(run)) == {"lc_283"}
  assert runs.seen_tasks("", str(tmp_path / "converted")) == set()
  with pytest.raises(ValueError, match="config.seen_tasks: .*no_such"):
    runs.seen_tasks("no_such", str(run))


def test_groups_without_tasks_get_no_correlations():
  import ml_collections
  rows = lambda arm: [{"task": t, "length": n, "correct": (i + n) % 3 == 0} for i, t in enumerate("abcd")  # noqa
                      for n in (1, 2)]
  records = {arm: rows(arm) for arm in ("base_d", "gold_k1", "samplegen_k1", "direct")}
  data = tables.build(records, [], list("abcd"), set(), [("1", [1]), ("2", [2])], [1],
                      ml_collections.ConfigDict(dict(resamples=20, confidence=0.9, seed=0)))
  assert set(data["correlations"]) == {"all", "heldout"} and data["groups"]["seen"] == []
  assert data["accuracy"]["direct"]["a"]["1"] == {"accuracy": 0.0, "count": 1}
