"""From any features to the head's input: PCA to d dimensions and whitening, fitted on the k training examples
only, then applied unchanged to the queries.

scikit-learn's PCA with `whiten=True` projects onto the top principal directions and divides each by its
standard deviation, so the training features come out with identity covariance. k centred examples span at
most k - 1 directions: with fewer than d + 1 examples (or fewer features than d), the remaining coordinates are
left at zero instead of dividing by a zero variance. Coordinate 0 is also where the head reads labels; features
go into every coordinate, exactly as in training, where x is drawn over all active coordinates.
"""
from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA


class Whitener:

  def __init__(self, dim: int):
    if dim < 1:
      raise ValueError(f"Whitener: dim={dim} must be positive")
    self.dim = dim
    self.pca: PCA | None = None

  def fit(self, train: np.ndarray) -> "Whitener":
    train = np.asarray(train, np.float64)
    if train.ndim != 2 or train.shape[0] < 2:
      raise ValueError(f"Whitener.fit: needs [k >= 2, features] training features, got shape {train.shape}")
    if not np.all(np.isfinite(train)):
      raise ValueError("Whitener.fit: the training features hold NaN or infinite values")
    if not np.any(np.ptp(train, axis=0) > 0):
      raise ValueError("Whitener.fit: the training features do not vary (every example has the same features)")
    keep = min(self.dim, train.shape[0] - 1, train.shape[1])
    self.pca = PCA(n_components=keep, whiten=True, svd_solver="full").fit(train)
    # Directions with (numerically) no variance would be blown up to noise by whitening: drop them.
    var = self.pca.explained_variance_
    self.kept = int(np.sum(var > var[0] * 1e-10))
    return self

  def transform(self, x: np.ndarray) -> np.ndarray:
    if self.pca is None:
      raise RuntimeError("Whitener.transform before fit")
    z = self.pca.transform(np.asarray(x, np.float64))[:, :self.kept]
    out = np.zeros((z.shape[0], self.dim), np.float32)
    out[:, :self.kept] = z
    return out

  def fit_transform(self, train: np.ndarray) -> np.ndarray:
    return self.fit(train).transform(train)
