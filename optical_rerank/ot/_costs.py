"""Cost matrices between token states and token marginals (uniform, IDF)."""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..errors import ConfigError, NumericalError
from ._sinkhorn import _batch_list

Tensor = torch.Tensor


class _CosineCost(torch.autograd.Function):
    """``1 - cos(x_i, y_j)`` with a hand-written backward (fewer passes over the states)."""

    @staticmethod
    def forward(ctx, X: Tensor, Y: Tensor, eps: float) -> Tensor:
        nx = torch.linalg.vector_norm(X, dim=-1)
        ny = torch.linalg.vector_norm(Y, dim=-1)
        rx, ry = 1.0 / nx.clamp_min(eps), 1.0 / ny.clamp_min(eps)
        M = torch.matmul(X, Y.transpose(-1, -2))
        # scale the (B, n, m) product rather than the (B, n, h) states, in place where possible
        # (large temporaries are costly: fresh pages from the OS)
        if not any(ctx.needs_input_grad[:2]):
            return M.mul_(rx[..., :, None]).mul_(ry[..., None, :]).neg_().add_(1.0)
        ctx.save_for_backward(X, Y, M, rx, ry, nx > eps, ny > eps)
        return (M * rx[..., :, None]).mul_(ry[..., None, :]).neg_().add_(1.0)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        X, Y, M, rx, ry, x_ok, y_ok = ctx.saved_tensors
        gs = (grad * rx[..., :, None]).mul_(ry[..., None, :])   # -(d cost / d M) = rx ry
        prod = gs * M
        gX = gY = None
        # d rx / d X = -X rx^3 (0 where the norm is clamped); d cost / d rx_i = -sum_j g M ry
        if ctx.needs_input_grad[0]:
            cx = torch.where(x_ok, prod.sum(-1) * rx * rx, torch.zeros_like(rx))
            gX = torch.matmul(gs, Y).neg_().addcmul_(X, cx[..., None])
        if ctx.needs_input_grad[1]:
            cy = torch.where(y_ok, prod.sum(-2) * ry * ry, torch.zeros_like(ry))
            gY = torch.matmul(gs.transpose(-1, -2), X).neg_().addcmul_(Y, cy[..., None])
        return gX, gY, None


def cosine_cost(X: Tensor, Y: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine cost ``1 - cos(x_i, y_j)``.

    Parameters
    ----------
    X : Tensor, shape (B, n, h)
    Y : Tensor, shape (B, m, h)
    eps : float
        Norm floor; an all-zero vector (e.g. padding) has cosine 0 with everything (cost 1)
        and gets no gradient through its norm.

    Returns
    -------
    Tensor, shape (B, n, m), values in [0, 2] up to rounding; differentiable in ``X`` and ``Y``.
    """
    _check_states(X, Y)
    return _CosineCost.apply(X, Y, float(eps))


def sqeuclidean_cost(X: Tensor, Y: Tensor) -> Tensor:
    """Squared Euclidean cost divided by the hidden size, ``||x_i - y_j||^2 / h``.

    Parameters
    ----------
    X : Tensor, shape (B, n, h)
    Y : Tensor, shape (B, m, h)

    Returns
    -------
    Tensor, shape (B, n, m), ``>= 0`` (clamped against cancellation).
    """
    _check_states(X, Y)
    h = X.shape[-1]
    x2 = (X * X).sum(-1)[..., :, None]
    y2 = (Y * Y).sum(-1)[..., None, :]
    xy = torch.matmul(X, Y.transpose(-1, -2))
    return (x2 + y2 - 2.0 * xy).clamp_min(0.0) / h


def _check_states(X: Tensor, Y: Tensor) -> None:
    """Shape check shared by the cost helpers."""
    if X.dim() < 2 or Y.dim() != X.dim() or X.shape[-1] != Y.shape[-1] or X.shape[:-2] != Y.shape[:-2]:
        raise ConfigError(f"expected X (B, n, h) and Y (B, m, h), got {tuple(X.shape)} and {tuple(Y.shape)}")


COSTS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "cosine": cosine_cost,
    "sqeuclidean": sqeuclidean_cost,
}


def uniform_marginals(mask: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """Uniform weights over the valid tokens of each sequence.

    Parameters
    ----------
    mask : Tensor, shape (B, n)
        Bool or 0/1 attention mask (1 = real token).
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    Tensor, shape (B, n)
        ``mask / mask.sum(-1)``; all-zero rows stay all zero (fully padded sequence).
    """
    w = (mask != 0).to(dtype)
    return w / w.sum(-1, keepdim=True).clamp_min(1.0)


def idf_marginals(token_ids: Tensor, mask: Tensor, idf_table: Tensor,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """IDF-weighted token marginals, normalised to sum to 1 per sequence.

    Parameters
    ----------
    token_ids : Tensor, shape (B, n), integer
        Token ids (indices into ``idf_table``).
    mask : Tensor, shape (B, n)
        Bool or 0/1 mask (1 = real token); padded tokens get weight 0.
    idf_table : Tensor, shape (V,)
        IDF per vocabulary id. Negative values (BM25-style idf of very common terms) are
        clamped to 0.
    dtype : torch.dtype
        Output dtype.

    Returns
    -------
    Tensor, shape (B, n)
        Weights ``>= 0`` summing to 1 over the valid tokens. A sequence whose valid tokens all
        have idf 0 falls back to uniform weights; a fully padded sequence stays all zero.

    Raises
    ------
    ConfigError
        Shapes disagree or a valid token id is outside ``[0, V)``.
    NumericalError
        The idf of a valid token is NaN/Inf.
    """
    if token_ids.shape != mask.shape or token_ids.dim() != 2 or idf_table.dim() != 1:
        raise ConfigError(
            f"expected token_ids (B, n), mask (B, n), idf_table (V,); got {tuple(token_ids.shape)}, "
            f"{tuple(mask.shape)}, {tuple(idf_table.shape)}")
    if token_ids.is_floating_point():
        raise ConfigError(f"token_ids must be an integer tensor, got {token_ids.dtype}")
    valid = mask != 0
    V = idf_table.shape[0]
    out_of_range = valid & ((token_ids < 0) | (token_ids >= V))
    if out_of_range.any():
        raise ConfigError(
            f"token ids outside the idf table (size {V}) in batch element(s) "
            f"{_batch_list(out_of_range.any(-1))}; the idf table must match the tokenizer")
    ids = torch.where(valid, token_ids, torch.zeros_like(token_ids))
    w = idf_table.to(device=ids.device, dtype=dtype)[ids]
    if not torch.isfinite(torch.where(valid, w, torch.zeros_like(w))).all():
        raise NumericalError("idf table has NaN/Inf for a token in use; rebuild the idf table")
    w = torch.where(valid, w.clamp_min(0.0), torch.zeros_like(w))
    total = w.sum(-1, keepdim=True)
    uniform = uniform_marginals(valid, dtype)
    return torch.where(total > 0, w / torch.where(total > 0, total, torch.ones_like(total)), uniform)
