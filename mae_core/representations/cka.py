"""Linear centred kernel alignment (CKA) between two sets of features of the same inputs (numpy only).

- ``linear_cka(X, Y)``: Kornblith et al. 2019, eq. for linear kernels, in feature space:
  ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F), Xc, Yc column-centred. Equals HSIC(K, L) / sqrt(HSIC(K, K)
  HSIC(L, L)) with K = X X^T, L = Y Y^T (``cka_from_grams``, the direct formula the tests compare with).
- ``unbiased_hsic`` and ``MinibatchCKA``: Nguyen, Raghu and Kornblith 2021 ("Do wide and deep networks learn the
  same things?"): the unbiased HSIC estimator of Song et al. 2012 per minibatch, averaged over minibatches, then
  CKA = mean HSIC(K, L) / sqrt(mean HSIC(K, K) mean HSIC(L, L)). Memory is one minibatch's Gram matrices, so
  token-level features (images x tokens rows) that do not fit in memory can be compared.
- ``StreamingLinearCKA``: the exact full-data linear CKA accumulated in feature space (D x D sums), for streams.
- ``cka_matrix``: a layer x layer matrix.

Hand-written: scikit-learn and scipy have no CKA, and the reference implementations (google-research
``representation_similarity``) are notebooks, not packages.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def _as_2d(x, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D (samples x features) array, got shape {x.shape}")
    return x


def _check_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_2d(x, "X"), _as_2d(y, "Y")
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"CKA needs the same inputs on both sides: {x.shape[0]} rows against {y.shape[0]}")
    if x.shape[0] < 2:
        raise ConfigError("CKA needs at least 2 samples")
    return x, y


def linear_cka(x, y) -> float:
    """Linear CKA of X (n, d1) and Y (n, d2): 1 for identical (up to rotation and scale), ~0 for independent.
    Computed as Gram matrices (n x n) when n is smaller than the widths, else in feature space."""
    x, y = _check_pair(x, y)
    x = x - x.mean(0)
    y = y - y.mean(0)
    if x.shape[0] < max(x.shape[1], y.shape[1]):
        return cka_from_grams(x @ x.T, y @ y.T, centred=True)
    xy = np.linalg.norm(y.T @ x) ** 2
    xx = np.linalg.norm(x.T @ x)
    yy = np.linalg.norm(y.T @ y)
    return float(xy / (xx * yy)) if xx > 0 and yy > 0 else 0.0


def _centre_gram(k: np.ndarray) -> np.ndarray:
    return k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()


def hsic(k: np.ndarray, l: np.ndarray, centred: bool = False) -> float:
    """Biased HSIC estimate tr(K H L H) / (n - 1)^2 (Gretton et al. 2005)."""
    n = k.shape[0]
    if not centred:
        k, l = _centre_gram(k), _centre_gram(l)
    return float(np.sum(k * l) / (n - 1) ** 2)


def cka_from_grams(k, l, centred: bool = False) -> float:
    """CKA from two Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))."""
    k, l = np.asarray(k, dtype=np.float64), np.asarray(l, dtype=np.float64)
    if not centred:
        k, l = _centre_gram(k), _centre_gram(l)
    kl, kk, ll = hsic(k, l, True), hsic(k, k, True), hsic(l, l, True)
    return float(kl / np.sqrt(kk * ll)) if kk > 0 and ll > 0 else 0.0


def unbiased_hsic(k, l) -> float:
    """Song et al. 2012's unbiased HSIC estimator (n >= 4):
    [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3)), K~ = K with zero diagonal."""
    k, l = np.array(k, dtype=np.float64), np.array(l, dtype=np.float64)
    n = k.shape[0]
    if n < 4:
        raise ConfigError(f"the unbiased HSIC needs at least 4 samples per minibatch, got {n}")
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones_k, ones_l = k.sum(1), l.sum(1)
    trace = np.sum(k * l)
    term2 = ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * float(ones_k @ ones_l)
    return float((trace + term2 - term3) / (n * (n - 3)))


class MinibatchCKA:
    """Nguyen et al. 2021's minibatch CKA for many (x, y) pairs at once: ``update(xs, ys)`` with one minibatch of
    every layer on each side, ``value()`` -> (len(xs), len(ys)) matrix."""

    def __init__(self):
        self.kl = self.kk = self.ll = None
        self.batches = 0

    def update(self, xs, ys) -> None:
        ks = [(lambda a: a @ a.T)(_as_2d(x, "X")) for x in xs]
        ls = [(lambda a: a @ a.T)(_as_2d(y, "Y")) for y in ys]
        if self.kl is None:
            self.kl = np.zeros((len(ks), len(ls)))
            self.kk, self.ll = np.zeros(len(ks)), np.zeros(len(ls))
        for i, k in enumerate(ks):
            self.kk[i] += unbiased_hsic(k, k)
            for j, l in enumerate(ls):
                self.kl[i, j] += unbiased_hsic(k, l)
        for j, l in enumerate(ls):
            self.ll[j] += unbiased_hsic(l, l)
        self.batches += 1

    def value(self) -> np.ndarray:
        if not self.batches:
            raise ConfigError("minibatch CKA: no minibatches were given")
        denom = np.sqrt(np.clip(np.outer(self.kk, self.ll), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(denom > 0, self.kl / np.where(denom > 0, denom, 1.0), 0.0)
        return out


def minibatch_cka(x, y, batch_size: int = 256, seed: int = 0) -> float:
    """Minibatch CKA of two (n, d) arrays: rows shuffled once, split into minibatches of batch_size (the last,
    if shorter than 4, dropped)."""
    x, y = _check_pair(x, y)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    acc = MinibatchCKA()
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        if len(idx) >= 4:
            acc.update([x[idx]], [y[idx]])
    return float(acc.value()[0, 0])


class StreamingLinearCKA:
    """Exact full-data linear CKA over rows that arrive in chunks (feature-space sums, memory O(d1 d2)):
    ``update(x_chunk, y_chunk)`` then ``value()``."""

    def __init__(self):
        self.n = 0
        self.sx = self.sy = self.xx = self.yy = self.xy = None

    def update(self, x, y) -> None:
        x, y = _as_2d(x, "X"), _as_2d(y, "Y")
        if self.n == 0:
            self.sx, self.sy = np.zeros(x.shape[1]), np.zeros(y.shape[1])
            self.xx, self.yy = np.zeros((x.shape[1],) * 2), np.zeros((y.shape[1],) * 2)
            self.xy = np.zeros((y.shape[1], x.shape[1]))
        self.n += x.shape[0]
        self.sx += x.sum(0)
        self.sy += y.sum(0)
        self.xx += x.T @ x
        self.yy += y.T @ y
        self.xy += y.T @ x

    def value(self) -> float:
        if self.n < 2:
            raise ConfigError("CKA needs at least 2 samples")
        mx, my = self.sx / self.n, self.sy / self.n
        cxx = self.xx - self.n * np.outer(mx, mx)
        cyy = self.yy - self.n * np.outer(my, my)
        cxy = self.xy - self.n * np.outer(my, mx)
        den = np.linalg.norm(cxx) * np.linalg.norm(cyy)
        return float(np.linalg.norm(cxy) ** 2 / den) if den > 0 else 0.0


def cka_matrix(xs, ys) -> np.ndarray:
    """Layer x layer linear CKA: xs, ys are sequences of (n, d) arrays over the same n inputs."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    ys = [np.asarray(y, dtype=np.float64) for y in ys]
    n = xs[0].shape[0]
    if any(a.shape[0] != n for a in xs + ys):
        raise ConfigError("CKA needs the same inputs on both sides (row counts differ)")
    if n < 2:
        raise ConfigError("CKA needs at least 2 samples")
    # Gram form: one centred n x n Gram per layer, then each pair is an elementwise product (n small here).
    if n <= 4096:
        gx = [_centre_gram(a @ a.T) for a in xs]
        gy = [_centre_gram(b @ b.T) for b in ys]
        nx = [np.linalg.norm(g) for g in gx]
        ny = [np.linalg.norm(g) for g in gy]
        out = np.zeros((len(xs), len(ys)))
        for i, g in enumerate(gx):
            for j, h in enumerate(gy):
                out[i, j] = np.sum(g * h) / (nx[i] * ny[j]) if nx[i] > 0 and ny[j] > 0 else 0.0
        return out
    return np.array([[linear_cka(a, b) for b in ys] for a in xs])
