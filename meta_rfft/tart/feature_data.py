"""Binary classification data that ships with scikit-learn, and the draw of k labelled examples plus queries.

Names: "breast_cancer" (569 tumours, 30 measurements: malignant 0 / benign 1) and "digits_A_B" (8x8 images of
the handwritten digits A and B, 64 pixel intensities: A -> 0, B -> 1).
"""
from __future__ import annotations

import re

import numpy as np
from sklearn import datasets as sk_datasets

_DIGITS = re.compile(r"digits_(\d)_(\d)$")


def load_feature_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
  """(features float64 [n, f], labels int64 [n] in {0, 1}) of a dataset named as in the module docstring."""
  if name == "breast_cancer":
    data = sk_datasets.load_breast_cancer()
    return data.data.astype(np.float64), data.target.astype(np.int64)
  match = _DIGITS.match(name)
  if match and match.group(1) != match.group(2):
    a, b = int(match.group(1)), int(match.group(2))
    data = sk_datasets.load_digits()
    keep = np.isin(data.target, (a, b))
    return data.data[keep].astype(np.float64), (data.target[keep] == b).astype(np.int64)
  raise ValueError(f"config.eval.datasets: unknown dataset {name!r}; use breast_cancer or digits_A_B with two "
                   f"different digits A and B (e.g. digits_3_8)")


def draw_split(labels: np.ndarray, k: int, test_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(k training indices, up to `test_size` query indices, disjoint) drawn with numpy's generator of `seed`.

  The k examples are a uniform draw, except that both labels are made to appear (one example is swapped for
  the first one of the missing label): the head and the baselines all need two classes to learn from."""
  labels = np.asarray(labels)
  n = labels.shape[0]
  if k < 2 or k >= n:
    raise ValueError(f"k={k} labelled examples cannot be drawn from {n} examples (need 2 <= k < {n})")
  order = np.random.default_rng(seed).permutation(n)
  train, rest = order[:k].copy(), order[k:]
  for label in (0, 1):
    if not np.any(labels[train] == label):
      spare = np.flatnonzero(labels[rest] == label)
      if spare.size == 0:
        raise ValueError(f"no example has label {label}: a binary task needs both")
      train[-1 if label == 0 else 0], rest = rest[spare[0]], np.delete(rest, spare[0])
  return train, rest[:test_size]
