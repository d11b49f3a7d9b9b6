"""Small logistic models fitted with numpy: the confidence combiner (binary, a few signals) and the
classifier tier (multinomial, sparse text features); cross-validation folds and AUROC. Deterministic:
fixed iterations, seeded folds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]


def fit_binary(x: Matrix, y: Sequence[bool], *, l2: float = 1.0, iterations: int = 50) -> tuple[Matrix, float]:
    """(weights, bias) of an L2-regularised logistic regression, by Newton's method (IRLS). ``x`` is
    standardised by the caller; the bias is not penalised."""
    n, d = x.shape
    target = np.asarray(y, dtype=np.float64)
    design = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    penalty = np.eye(d + 1) * l2
    penalty[d, d] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -60, 60)))
        grad = design.T @ (p - target) + penalty @ theta
        hess = design.T @ (design * (p * (1 - p))[:, None]) + penalty + np.eye(d + 1) * 1e-9
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return theta[:d], float(theta[d])


def fit_multinomial(
    x: Matrix, y: Sequence[int], n_classes: int, *, l2: float = 1e-2, iterations: int = 300, rate: float = 1.0
) -> tuple[Matrix, Matrix]:
    """(weights [features x classes], bias [classes]) of an L2-regularised softmax regression by full-batch
    gradient descent with Nesterov momentum. Rows of ``x`` are unit-length feature vectors."""
    n, d = x.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), np.asarray(y)] = 1.0
    w = np.zeros((d, n_classes))
    b = np.zeros(n_classes)
    vw, vb = np.zeros_like(w), np.zeros_like(b)
    for _ in range(iterations):
        lw, lb = w + 0.9 * vw, b + 0.9 * vb
        logits = x @ lw + lb
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        gw = x.T @ (p - onehot) / n + l2 * lw
        gb = (p - onehot).mean(axis=0)
        vw, vb = 0.9 * vw - rate * gw, 0.9 * vb - rate * gb
        w, b = w + vw, b + vb
    return w, b


def folds(n: int, k: int, seed: int) -> list[NDArray[np.int64]]:
    """``k`` disjoint index sets covering ``range(n)``, seeded."""
    order = np.random.default_rng(seed).permutation(n)
    return [order[i::k] for i in range(k)]


def auroc(scores: Sequence[float | None], correct: Sequence[bool]) -> float | None:
    """Probability that a random right answer scores above a random wrong one (ties count half);
    ``None`` without both kinds. Answers without a score rank lowest."""
    pos = [s if s is not None else -1.0 for s, ok in zip(scores, correct, strict=True) if ok]
    neg = [s if s is not None else -1.0 for s, ok in zip(scores, correct, strict=True) if not ok]
    if not pos or not neg:
        return None
    a, b = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((a > b).sum() + 0.5 * (a == b).sum()) / (len(pos) * len(neg)))
