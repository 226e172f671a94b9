"""Inner loops of the Sinkhorn solver: base-2 log-domain helpers, kernel absorption, windows.

Internally the solver works in base-2 log units (potentials ``f / (eps ln 2)``, ``exp2``, ``log2``):
the iterates are the same, and torch's CPU ``exp2`` is several times faster than ``exp``.
"""
from __future__ import annotations

import math

import torch

Tensor = torch.Tensor

_LN2 = math.log(2.0)
_ABSORB_EVERY = 100     # iterations between two log-domain re-stabilisations of the kernel


def _lam(tau: float, eps: float) -> float:
    """Exponent ``tau / (tau + eps)`` of the KL-relaxed update (1 for a hard constraint)."""
    return 1.0 if math.isinf(tau) else tau / (tau + eps)


def _from_lse(log_w: Tensor, lse: Tensor, lam: float, kl_ref: bool) -> Tensor:
    """Scaled potential update: ``log w - lam * lse`` (KL reference) or ``lam (log w - lse)``."""
    if lam == 1.0:
        return log_w - lse
    if kl_ref:
        return log_w - lam * lse
    return lam * (log_w - lse)


def _shift(log_w: Tensor, s: Tensor, lam: float, kl_ref: bool) -> Tensor:
    """Constant part ``c`` of the update ``c - lam * log2(sum)`` when ``lse = log2(sum) - s``."""
    if lam == 1.0:
        return log_w + s
    if kl_ref:
        return log_w + lam * s
    return lam * (log_w + s)


def _from_sum(c: Tensor, s: Tensor, pad: Tensor, lam: float) -> Tensor:
    """``c - lam * log2(s + pad)`` (``pad`` = 1 where a row/column is entirely padding)."""
    if lam == 1.0:
        return c - torch.log2(s + pad)
    return c - lam * torch.log2(s + pad)


def _masked_lse2(x: Tensor, dim: int, pad: Tensor) -> Tensor:
    """Base-2 log-sum-exp of ``x`` over ``dim`` where masked entries are ``-inf``.

    ``pad`` (the shape of the result) is 1.0 where every entry is masked and 0.0 elsewhere;
    those results are 0 instead of ``-inf``, without NaN in the forward or backward pass.
    """
    mx = x.detach().amax(dim, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    s = torch.exp2(x - mx).sum(dim)
    return torch.log2(s + pad) + mx.squeeze(dim)



def _absorb(C, coef, lm_row, lm_col, F, G, row_active, row_pad, tiny, huge, out=None):
    """Kernel ``K_ij = 2^(C_ij coef + G_j + s_i)`` (0 at padding) with a row stabiliser ``s``.

    ``s = F`` (detached) makes ``K`` the current plan, whose row sums are the row marginal;
    when some row sum under- or overflows, ``s = -max_j(C_ij coef + G_j)`` (every row then has
    a largest entry of 1). ``out`` (no autograd) is a ``(B, n, m)`` buffer to write ``K`` into.
    Returns ``(K (B,n,m), S (B,n), s (B,n))``; the exact row LSE is ``log2(S) - s``.
    """
    s = F.detach()
    col = (G + lm_col)[:, None, :]
    row = (s + lm_row)[:, :, None]
    K = (torch.add(row, col, out=out) if out is not None else row + col).add_(C, alpha=coef).exp2_()
    S = K.sum(-1)
    with torch.no_grad():
        ok = bool(((S + row_pad).amin() > tiny) & (S.amax() < huge))   # False on NaN
    if not ok:
        L = (lm_row[:, :, None] + col).add_(C, alpha=coef)
        mx = L.detach().amax(-1)
        s = torch.where(row_active, -mx, torch.zeros_like(mx))
        K = L.add_(s[:, :, None]).exp2_()
        S = K.sum(-1)
    return K, S, s


def _window_stabilized(K, S, s, F, G, log_a, log_b, row_pad, col_pad, lam_a, lam_b, kl_ref, k,
                       check_every, check, in_place):
    """Up to ``k`` iterations as batched mat-vecs against the absorbed kernel ``K = 2^(logK + G0 + s)``.

    With ``u = 2^(F - s)`` and ``v = 2^(G - G0)`` the log-domain updates
    ``F = c_a - lam log2(K v)`` and ``G = c_b - lam log2(u K)`` become the scaling updates
    ``u = a' (K v)^-lam`` and ``v = b' (u K)^-lam``, so an iteration costs two batched mat-vecs
    and a few vector operations (vectors are kept as ``(B, 1, len)`` rows for ``bmm``). The
    first ``F`` update uses the window-start row sums ``S`` (an exact log-domain update); the
    potentials are recovered from the last sums.

    ``check = (a, a_mass, tol)`` (balanced OT) stops the window early, at a multiple of
    ``check_every`` iterations, once every relative L1 row-marginal violation is below ``tol``.

    Returns ``(F, G, F_prev, G_prev, iterations_done, early)`` where ``early`` is
    ``(batch_err, plan)`` after an early stop and ``None`` otherwise; with ``in_place`` (no
    autograd) that plan overwrites ``K``.
    """
    G0 = G
    KT = K.transpose(1, 2)                        # bmm takes the transposed view without a copy
    c_a = _shift(log_a, s, lam_a, kl_ref)
    c_b = _shift(log_b, G0, lam_b, kl_ref)
    ua = torch.exp2(c_a - s).unsqueeze(1)         # a' (1 at padding, where K's row is 0)
    vb = torch.exp2(c_b - G0).unsqueeze(1)
    rp, cp = row_pad.unsqueeze(1), col_pad.unsqueeze(1)
    S = S.unsqueeze(1)
    S_prev = T_prev = T = u = v = None
    early = None
    done = k
    for it in range(k):
        if it:
            S_new = torch.bmm(v, KT)
            if check is not None and it % check_every == 0:
                with torch.no_grad():             # row marginal of diag(u) K diag(v)
                    err = (u * S_new - check[0].unsqueeze(1)).abs().sum(-1).squeeze(1) / check[1]
                    stop = bool((err < check[2]).all())
                if stop:
                    uT = u.transpose(1, 2)
                    early = (err, K.mul_(uT).mul_(v) if in_place else (K * uT).mul_(v))
                    done = it
                    break
            S_prev, S = S, S_new
        u = ua / (S + rp) if lam_a == 1.0 else ua * (S + rp).pow(-lam_a)
        T_prev = T
        T = torch.bmm(u, K)
        v = vb / (T + cp) if lam_b == 1.0 else vb * (T + cp).pow(-lam_b)
    F_new = _from_sum(c_a, S.squeeze(1), row_pad, lam_a)
    G_new = _from_sum(c_b, T.squeeze(1), col_pad, lam_b)
    F_prev = F if S_prev is None else _from_sum(c_a, S_prev.squeeze(1), row_pad, lam_a)
    G_prev = G if T_prev is None else _from_sum(c_b, T_prev.squeeze(1), col_pad, lam_b)
    return F_new, G_new, F_prev, G_prev, done, early


def _window_compact(K, S, s, F, G, log_a, log_b, row_pad, col_pad, k, check_every, a, a_mass, tol):
    """Balanced, no-autograd variant of :func:`_window_stabilized` that freezes converged problems.

    At every convergence check the batch elements whose relative L1 row-marginal violation is
    below ``tol`` are finished: their plan ``K * u v^T`` is written into their own slot of ``K``
    and they leave the working batch, so the mat-vecs only run over the problems still
    iterating. (If the window ends first, every problem is re-absorbed and goes on.) Returns
    like :func:`_window_stabilized`; with an early stop the plan is ``K`` itself.
    """
    B = K.shape[0]
    G0 = G
    c_a, c_b = log_a + s, log_b + G0              # balanced: F = c_a - log2(K v), G = c_b - log2(u K)
    ua = torch.exp2(c_a - s).unsqueeze(1)
    vb = torch.exp2(c_b - G0).unsqueeze(1)
    rp, cp = row_pad.unsqueeze(1), col_pad.unsqueeze(1)
    a3, mass = a.unsqueeze(1), a_mass
    F_out, G_out = F.clone(), G.clone()
    err_out = torch.full((B,), math.inf, dtype=K.dtype, device=K.device)
    idx = torch.arange(B, device=K.device)
    Kw, Su, T, u, v = K, S.unsqueeze(1), None, None, None
    for it in range(k):
        if it:
            S_new = torch.bmm(v, Kw.transpose(1, 2))
            if it % check_every == 0:
                err = (u * S_new - a3).abs().sum(-1).squeeze(1) / mass
                conv = err < tol
                n_conv = int(conv.sum())
                n_act = idx.numel()
                # finish the converged problems: they stop here, as they would if solved alone
                if n_conv:
                    pos = conv.nonzero().squeeze(1)
                    ic = idx.index_select(0, pos)
                    Fc = c_a.index_select(0, pos) - torch.log2(Su + rp).squeeze(1).index_select(0, pos)
                    Gc = c_b.index_select(0, pos) - torch.log2(T + cp).squeeze(1).index_select(0, pos)
                    F_out.index_copy_(0, ic, Fc)
                    G_out.index_copy_(0, ic, Gc)
                    err_out.index_copy_(0, ic, err.index_select(0, pos))
                    if n_conv == n_act:
                        if Kw is K:
                            K.mul_(u.transpose(1, 2)).mul_(v)          # all done at once: in place
                        else:
                            K.index_copy_(0, idx, Kw.mul_(u.transpose(1, 2)).mul_(v))
                        return F_out, G_out, F_out, G_out, it, (err_out, K)
                    K.index_copy_(0, ic, (Kw.index_select(0, pos) * u.index_select(0, pos).transpose(1, 2))
                                  .mul_(v.index_select(0, pos)))
                    keep = (~conv).nonzero().squeeze(1)
                    idx, Kw, S_new = idx.index_select(0, keep), Kw.index_select(0, keep), S_new.index_select(0, keep)
                    c_a, c_b, ua, vb, rp, cp, a3, mass = (
                        t.index_select(0, keep) for t in (c_a, c_b, ua, vb, rp, cp, a3, mass))
            Su = S_new
        u = ua / (Su + rp)
        T = torch.bmm(u, Kw)
        v = vb / (T + cp)
    F_out.index_copy_(0, idx, c_a - torch.log2(Su + rp).squeeze(1))
    G_out.index_copy_(0, idx, c_b - torch.log2(T + cp).squeeze(1))
    return F_out, G_out, F_out, G_out, k, None


def _window_log(logK, S, s, F, G, log_a, log_b, row_pad, col_pad, lam_a, lam_b, kl_ref, k):
    """``k`` plain log-domain iterations (masked log-sum-exp over the full kernel)."""
    F_prev = F
    F = _from_sum(_shift(log_a, s, lam_a, kl_ref), S, row_pad, lam_a)
    G_prev = G
    for it in range(k):
        if it:
            F_prev = F
            F = _from_lse(log_a, _masked_lse2(logK + G[:, None, :], -1, row_pad), lam_a, kl_ref)
        G_prev = G
        G = _from_lse(log_b, _masked_lse2(logK + F[:, :, None], -2, col_pad), lam_b, kl_ref)
    return F, G, F_prev, G_prev
