"""The OT loss between two batches of token states: costs, marginals and :func:`sinkhorn` in one call."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ConfigError
from ._costs import COSTS, uniform_marginals
from ._sinkhorn import SinkhornResult, sinkhorn

Tensor = torch.Tensor


def ot_loss(
    X: Tensor,
    Y: Tensor,
    x_mask: Tensor,
    y_mask: Tensor,
    reg: float = 0.05,
    cost: str | Callable[[Tensor, Tensor], Tensor] = "cosine",
    unbalanced_tau: float | tuple[float, float] | None = None,
    grad: str = "envelope",
    a: Tensor | None = None,
    b: Tensor | None = None,
    **sinkhorn_kwargs,
) -> tuple[Tensor, SinkhornResult]:
    """OT distillation loss ``<P*, C(X, Y)>`` between two batches of token states.

    Parameters
    ----------
    X : Tensor, shape (B, n, h)
        Token states of one side (e.g. the student's), padded.
    Y : Tensor, shape (B, m, h)
        Token states of the other side (e.g. the teacher's), padded.
    x_mask : Tensor, shape (B, n)
        Bool or 0/1 mask of real tokens in ``X``.
    y_mask : Tensor, shape (B, m)
        Bool or 0/1 mask of real tokens in ``Y``.
    reg : float
        Entropic regularisation in cost units.
    cost : {"cosine", "sqeuclidean"} or callable
        Cost function ``(X, Y) -> (B, n, m)``.
    unbalanced_tau : float or (float, float) or None
        KL marginal relaxation (POT's ``reg_m``); ``None`` = balanced OT.
    grad : {"envelope", "unrolled"}
        Gradient mode of :func:`sinkhorn`.
    a, b : Tensor, shape (B, n) / (B, m), optional
        Token weights (e.g. :func:`idf_marginals`); default uniform over the mask. They are
        multiplied by the mask, so padded tokens never carry mass.
    **sinkhorn_kwargs
        Passed to :func:`sinkhorn` (``max_iter``, ``tol``, ``method``, ...).

    Returns
    -------
    loss : Tensor, shape (B,)
        ``<P*, C>`` per pair, differentiable with respect to ``X`` and ``Y``.
    result : SinkhornResult
    """
    if isinstance(cost, str):
        if cost not in COSTS:
            raise ConfigError(f"unknown cost {cost!r}; choose one of {sorted(COSTS)} or pass a callable")
        cost_fn = COSTS[cost]
    else:
        cost_fn = cost
    if x_mask.shape != X.shape[:-1] or y_mask.shape != Y.shape[:-1]:
        raise ConfigError(
            f"masks {tuple(x_mask.shape)}, {tuple(y_mask.shape)} do not match states "
            f"{tuple(X.shape)}, {tuple(Y.shape)}")
    C = cost_fn(X, Y)
    dtype = C.dtype if C.dtype in (torch.float32, torch.float64) else torch.float32
    xm, ym = (x_mask != 0).to(dtype), (y_mask != 0).to(dtype)
    a = uniform_marginals(x_mask, dtype) if a is None else a.to(dtype) * xm
    b = uniform_marginals(y_mask, dtype) if b is None else b.to(dtype) * ym
    result = sinkhorn(C, a, b, reg, tau=unbalanced_tau, grad=grad, **sinkhorn_kwargs)
    return result.cost, result
