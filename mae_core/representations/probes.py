"""Probes on frozen features: DINO's weighted k-NN, a linear probe (scikit-learn) and an attentive probe (torch).

Every probe is scored with the same stratified k-fold split of one labelled set (no separate test set ships with a
folder of images): mean and standard deviation of top-1 accuracy over the folds.

- k-NN as DINO's ``eval_knn.py``: L2-normalised features, cosine similarity, the k = 20 nearest training samples,
  each voting for its class with weight exp(similarity / T), T = 0.07. Hand-written (a few lines of numpy) because
  scikit-learn's KNeighborsClassifier takes a weight function of the distance and needs a callable per call; the
  test checks both give the same predictions.
- linear: StandardScaler then LogisticRegression (lbfgs, L2, C = 1), fitted on each training fold.
- attentive: a small cross-attention pooler over patch tokens in the pattern of Psomas et al.'s EfficientProbing
  (learnable queries, one value projection, no q/k projections), then a linear head; AdamW, a fixed number of steps.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

KNN_K = 20
KNN_T = 0.07
FOLDS = 5


@dataclass(frozen=True)
class ProbeScore:
    probe: str  # "k-NN" | "linear" | "attentive"
    kind: str  # "cls" | "mean" | "tokens"
    layer: int
    mean: float  # top-1 accuracy in [0, 1], mean over folds
    std: float
    folds: tuple  # per-fold accuracy

    def to_dict(self) -> dict:
        return dict(probe=self.probe, kind=self.kind, layer=self.layer, mean=self.mean, std=self.std,
                    folds=list(self.folds))


def check_labels(labels, classes=None) -> np.ndarray:
    """Labels as int array; a one-line ConfigError for fewer than 2 classes or a class with fewer than 2 images."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ConfigError("no labelled images to probe")
    values, counts = np.unique(y, return_counts=True)
    if len(values) < 2:
        raise ConfigError("a probe needs at least 2 classes (one subfolder per class)")
    small = [(v, c) for v, c in zip(values, counts) if c < 2]
    if small:
        v, c = small[0]
        name = classes[int(v)] if classes is not None else v
        raise ConfigError(f"class {name!r} has {c} image: each class needs at least 2 for a stratified split")
    return y


def folds(labels, n_splits: int = FOLDS, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (shuffled, seeded) train/test index pairs; k is lowered to the smallest class size."""
    from sklearn.model_selection import StratifiedKFold

    y = check_labels(labels)
    k = int(min(n_splits, np.unique(y, return_counts=True)[1].min()))
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y)), y))


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_predict(train_x, train_y, test_x, k: int = KNN_K, temperature: float = KNN_T,
                n_classes: int | None = None, chunk: int = 1024) -> np.ndarray:
    """DINO's weighted k-NN: class of each test row (k is capped at the training set size)."""
    tr = l2_normalise(train_x)
    train_y = np.asarray(train_y)
    c = int(n_classes or train_y.max() + 1)
    k = min(k, len(tr))
    out = np.empty(len(test_x), dtype=np.int64)
    for s in range(0, len(test_x), chunk):
        te = l2_normalise(test_x[s:s + chunk])
        sim = te @ tr.T
        idx = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < sim.shape[1] else np.tile(np.arange(sim.shape[1]),
                                                                                              (len(te), 1))
        top = np.take_along_axis(sim, idx, 1)
        w = np.exp(top.astype(np.float64) / temperature)
        votes = np.zeros((len(te), c))
        np.add.at(votes, (np.repeat(np.arange(len(te)), idx.shape[1]), train_y[idx].ravel()), w.ravel())
        out[s:s + chunk] = votes.argmax(1)
    return out


def knn_score(x, y, splits, k: int = KNN_K, temperature: float = KNN_T) -> list[float]:
    y = np.asarray(y)
    return [float((knn_predict(x[tr], y[tr], x[te], k, temperature, int(y.max()) + 1) == y[te]).mean())
            for tr, te in splits]


def linear_model(seed: int = 0, max_iter: int = 2000):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=max_iter, random_state=seed))


def linear_score(x, y, splits, seed: int = 0) -> list[float]:

    from sklearn.exceptions import ConvergenceWarning

    y = np.asarray(y)
    accs = []
    for tr, te in splits:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m = linear_model(seed).fit(x[tr], y[tr])
        accs.append(float((m.predict(x[te]) == y[te]).mean()))
    return accs


def attentive_score(tokens, y, splits, seed: int = 0, steps: int = 300, num_queries: int = 4, lr: float = 1e-2,
                    device: str = "cpu", batch_size: int = 64) -> list[float]:
    """Attentive probe over per-patch tokens (n, T, D): per fold, train a pooler + linear head from scratch for
    ``steps`` AdamW steps of ``batch_size`` images (cosine-decayed learning rate)."""
    import torch

    y = np.asarray(y)
    c = int(y.max()) + 1
    accs = []
    for f, (tr, te) in enumerate(splits):
        torch.manual_seed(seed + f)
        xt = torch.as_tensor(np.asarray(tokens[tr], dtype=np.float32), device=device)
        mu, sd = xt.mean((0, 1), keepdim=True), xt.std((0, 1), keepdim=True) + 1e-6
        probe = AttentivePooler(xt.shape[-1], c, num_queries).to(device)
        opt = torch.optim.AdamW(probe.parameters(), lr=lr, weight_decay=0.05)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        yt = torch.as_tensor(y[tr], device=device)
        for _ in range(steps):
            b = torch.randint(0, len(tr), (min(batch_size, len(tr)),), device=device)
            loss = torch.nn.functional.cross_entropy(probe((xt[b] - mu) / sd), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            xe = (torch.as_tensor(np.asarray(tokens[te], dtype=np.float32), device=device) - mu) / sd
            pred = probe(xe).argmax(1).cpu().numpy()
        accs.append(float((pred == y[te]).mean()))
    return accs


def _pooler_class():
    import torch
    from torch import nn

    class _AttentivePooler(nn.Module):
        """Learnable queries attend over the tokens (keys = the tokens themselves, one value projection), the
        queries' outputs are averaged and classified. EfficientProbing's layout, without q/k projections."""

        def __init__(self, dim: int, n_classes: int, num_queries: int = 4):
            super().__init__()
            self.queries = nn.Parameter(torch.randn(num_queries, dim) * dim ** -0.5)
            self.value = nn.Linear(dim, dim)
            self.norm = nn.LayerNorm(dim)
            self.head = nn.Linear(dim, n_classes)

        def forward(self, x):  # x (B, T, D)
            attn = torch.softmax(torch.einsum("qd,btd->bqt", self.queries, x) * x.shape[-1] ** -0.5, dim=-1)
            # the value projection after the average: attn's rows sum to 1, so attn @ value(x) = value(attn @ x),
            # and projecting q pooled vectors instead of T tokens makes a step T/q times cheaper (1024 tokens: 256x)
            pooled = self.value(torch.einsum("bqt,btd->bqd", attn, x)).mean(1)
            return self.head(self.norm(pooled))

    return _AttentivePooler


def AttentivePooler(dim: int, n_classes: int, num_queries: int = 4):  # noqa: N802 (a class made lazily: torch)
    return _pooler_class()(dim, n_classes, num_queries)


def summarise(probe: str, kind: str, layer: int, accs: list[float]) -> ProbeScore:
    a = np.asarray(accs, dtype=np.float64)
    return ProbeScore(probe, kind, int(layer), float(a.mean()), float(a.std()), tuple(float(v) for v in a))
