"""Tests of optical_rerank.ot (batched masked Sinkhorn) against POT, plus invariants."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import ot as pot
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optical_rerank import bench
from optical_rerank.errors import ConfigError, NumericalError
from optical_rerank.ot import (
    ConvergenceWarning,
    SinkhornResult,
    cosine_cost,
    idf_marginals,
    ot_loss,
    sinkhorn,
    sqeuclidean_cost,
    uniform_marginals,
)

torch.set_num_threads(1)
F64 = torch.float64
METHODS = ("stabilized", "log")


# --------------------------------------------------------------------------- helpers
def _problem(n, m, seed, dtype=F64, scale=1.0):
    """Random cost in [0, scale) and random positive marginals summing to 1."""
    g = torch.Generator().manual_seed(seed)
    C = torch.rand(n, m, generator=g, dtype=dtype) * scale
    a = torch.rand(n, generator=g, dtype=dtype) + 0.1
    b = torch.rand(m, generator=g, dtype=dtype) + 0.1
    return C, a / a.sum(), b / b.sum()


def _padded_batch(sizes, seed, dtype=F64):
    """Pad independent problems of the given sizes into one batch; returns batch + pieces."""
    pieces = [_problem(n, m, seed + i, dtype) for i, (n, m) in enumerate(sizes)]
    B, N, M = len(sizes), max(n for n, _ in sizes), max(m for _, m in sizes)
    g = torch.Generator().manual_seed(seed + 1000)
    C = torch.rand(B, N, M, generator=g, dtype=dtype) * 7.0 + 3.0   # garbage in the padding
    a = torch.zeros(B, N, dtype=dtype)
    b = torch.zeros(B, M, dtype=dtype)
    for i, (Ci, ai, bi) in enumerate(pieces):
        n, m = Ci.shape
        C[i, :n, :m], a[i, :n], b[i, :m] = Ci, ai, bi
    return C, a, b, pieces


def _pot_log(C, a, b, reg):
    """POT's log-domain Sinkhorn plan and linear cost on numpy float64, run to convergence."""
    M, a_, b_ = C.double().numpy(), a.double().numpy(), b.double().numpy()
    a_, b_ = a_ / a_.sum(), b_ / b_.sum()               # exactly balanced in float64
    P = pot.sinkhorn(a_, b_, M, reg, method="sinkhorn_log", numItermax=100000, stopThr=1e-13)
    value = pot.sinkhorn2(a_, b_, M, reg, method="sinkhorn_log", numItermax=100000, stopThr=1e-13)
    return torch.from_numpy(P), float(value)


# --------------------------------------------------------------------------- agreement with POT
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n,m,reg,seed", [(5, 7, 0.1, 0), (12, 9, 0.05, 1), (20, 30, 0.5, 2),
                                          (8, 8, 0.02, 3)])
def test_balanced_matches_pot_sinkhorn_log(method, n, m, reg, seed):
    C, a, b = _problem(n, m, seed)
    res = sinkhorn(C, a, b, reg, tol=1e-11, max_iter=100000, method=method)
    P_pot, value_pot = _pot_log(C, a, b, reg)
    assert res.converged
    assert (res.plan - P_pot).abs().max().item() <= 1e-4
    assert (res.plan - P_pot).abs().max().item() <= 1e-8          # in fact far tighter
    assert abs(res.cost.item() - value_pot) <= 1e-4
    assert abs(res.cost.item() - (P_pot * C).sum().item()) <= 1e-8


@pytest.mark.parametrize("method", METHODS)
def test_padded_batch_matches_pot_per_problem(method):
    sizes = [(5, 7), (9, 3), (1, 6), (9, 7), (4, 1)]
    C, a, b, pieces = _padded_batch(sizes, seed=10)
    res = sinkhorn(C, a, b, 0.1, tol=1e-11, max_iter=100000, method=method)
    assert res.plan.shape == C.shape and res.cost.shape == (len(sizes),)
    for i, (Ci, ai, bi) in enumerate(pieces):
        n, m = Ci.shape
        P_pot, value_pot = _pot_log(Ci, ai, bi, 0.1)
        assert (res.plan[i, :n, :m] - P_pot).abs().max().item() <= 1e-8
        assert abs(res.cost[i].item() - value_pot) <= 1e-8
        # padding carries exactly zero mass
        assert res.plan[i, n:, :].abs().sum().item() == 0.0
        assert res.plan[i, :, m:].abs().sum().item() == 0.0
        assert res.f[i, n:].abs().sum().item() == 0.0 and res.g[i, m:].abs().sum().item() == 0.0


@pytest.mark.parametrize("method", METHODS)
def test_padded_equals_unpadded_single_problem(method):
    C, a, b, pieces = _padded_batch([(6, 4), (3, 8), (7, 7)], seed=20)
    res = sinkhorn(C, a, b, 0.05, tol=1e-12, max_iter=100000, method=method)
    for i, (Ci, ai, bi) in enumerate(pieces):
        n, m = Ci.shape
        single = sinkhorn(Ci, ai, bi, 0.05, tol=1e-12, max_iter=100000, method=method)
        assert single.plan.shape == (n, m) and single.cost.dim() == 0
        assert (res.plan[i, :n, :m] - single.plan).abs().max().item() <= 1e-10
        assert abs(res.cost[i].item() - single.cost.item()) <= 1e-10
        assert res.plan[i, n:].abs().sum().item() == 0.0 and res.plan[i, :, m:].abs().sum().item() == 0.0


@pytest.mark.parametrize("grad_mode", ["envelope", "unrolled"])
def test_fast_and_slow_problems_in_one_batch(grad_mode):
    """Problems that converge early (frozen in envelope mode) and a slow one share a batch."""
    sizes = [(4, 4), (30, 25), (12, 2), (25, 30)]
    C, a, b, _ = _padded_batch(sizes, seed=25)
    C[1, :30, :25] *= 20.0                       # a slow problem (cost range 20 / reg 0.1)
    res = sinkhorn(C, a, b, 0.1, tol=1e-6, grad=grad_mode)
    assert res.converged and (res.batch_err < 1e-6).all() and res.n_iter > 100
    for i, (n, m) in enumerate(sizes):
        single = sinkhorn(C[i, :n, :m], a[i, :n], b[i, :m], 0.1, tol=1e-6, grad=grad_mode)
        assert single.converged
        assert (res.plan[i, :n, :m] - single.plan).abs().max().item() <= 1e-5
        assert ((res.plan[i].sum(1) - a[i]).abs().sum() / a[i].sum()).item() <= 1e-6
        assert res.plan[i, n:].abs().sum().item() == 0.0 and res.plan[i, :, m:].abs().sum().item() == 0.0


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("reg_type", ["kl", "entropy"])
@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_unbalanced_matches_pot(method, reg_type, tau):
    C, a, b = _problem(6, 9, seed=30)
    b = 2.5 * b                                            # unequal masses
    reg = 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # POT's notice about reg_type="entropy"
        P_pot = pot.unbalanced.sinkhorn_unbalanced(
            a.numpy(), b.numpy(), C.numpy(), reg, tau, method="sinkhorn", reg_type=reg_type,
            numItermax=200000, stopThr=1e-14)
    res = sinkhorn(C, a, b, reg, tau=tau, reg_type=reg_type, tol=1e-12, max_iter=200000,
                   method=method)
    assert res.converged
    assert (res.plan - torch.from_numpy(P_pot)).abs().max().item() <= 1e-4
    assert (res.plan - torch.from_numpy(P_pot)).abs().max().item() <= 1e-9
    assert abs(res.cost.item() - float((P_pot * C.numpy()).sum())) <= 1e-9


def test_semi_relaxed_matches_pot():
    C, a, b = _problem(7, 5, seed=31)
    b = 0.5 * b
    tau = (math.inf, 0.5)
    P_pot = pot.unbalanced.sinkhorn_unbalanced(a.numpy(), b.numpy(), C.numpy(), 0.1, tau,
                                               method="sinkhorn", numItermax=200000, stopThr=1e-14)
    res = sinkhorn(C, a, b, 0.1, tau=tau, tol=1e-12, max_iter=200000)
    assert (res.plan - torch.from_numpy(P_pot)).abs().max().item() <= 1e-9
    # the hard side is satisfied exactly
    assert (res.plan.sum(1) - a).abs().max().item() <= 1e-9


@pytest.mark.parametrize("reg", [1e-2, 3e-3, 1e-3])
def test_small_reg_approaches_emd(reg):
    C, a, b = _problem(12, 15, seed=40)
    value_emd = float(pot.emd2(a.numpy(), b.numpy(), C.numpy()))
    res = sinkhorn(C, a, b, reg, tol=1e-10, max_iter=200000)
    assert res.converged
    gap = res.cost.item() - value_emd
    # <P_eps, C> - OT <= eps * (H(P_eps) - H(P_emd)) <= eps * log(n m); >= 0 up to the
    # (1e-10) marginal error because P_eps is feasible
    assert gap >= -1e-8
    assert gap <= reg * math.log(12 * 15)
    P = res.plan[res.plan > 0]
    entropy = float(-(P * P.log()).sum())
    assert gap <= reg * entropy + 1e-8


def test_emd_gap_shrinks_with_reg():
    C, a, b = _problem(10, 10, seed=41)
    value_emd = float(pot.emd2(a.numpy(), b.numpy(), C.numpy()))
    gaps = [sinkhorn(C, a, b, r, tol=1e-10, max_iter=200000).cost.item() - value_emd
            for r in (0.1, 0.01, 0.001)]
    assert gaps[0] > gaps[1] > gaps[2] >= -1e-8
    assert gaps[2] <= 1e-2


# --------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("method", METHODS)
def test_marginals_nonnegativity_and_convergence_info(method):
    C, a, b, _ = _padded_batch([(10, 12), (7, 3), (12, 12)], seed=50)
    res = sinkhorn(C, a, b, 0.05, tol=1e-9, max_iter=10000, method=method)
    assert isinstance(res, SinkhornResult)
    assert res.converged and res.err < 1e-9 and bool(res.batch_converged.all())
    assert res.batch_err.shape == (3,) and 0 < res.n_iter < 10000
    assert (res.plan >= 0).all()
    # relative L1 violation of the row marginal is what tol bounds; columns are exact
    assert ((res.plan.sum(2) - a).abs().sum(1) / a.sum(1)).max().item() <= 1e-9
    assert (res.plan.sum(1) - b).abs().max().item() <= 1e-12
    assert torch.allclose(res.cost, (res.plan * torch.where(res.plan > 0, C, 0)).sum((1, 2)))


def test_result_is_frozen():
    C, a, b = _problem(3, 4, seed=51)
    res = sinkhorn(C, a, b, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n_iter = 0  # type: ignore[misc]


def test_fully_padded_elements_give_zero_without_nan():
    C, a, b, _ = _padded_batch([(4, 5), (3, 3)], seed=60)
    C = torch.cat([C, torch.full((1,) + C.shape[1:], float("nan"), dtype=F64)])
    a = torch.cat([a, torch.zeros(1, a.shape[1], dtype=F64)])
    b = torch.cat([b, torch.zeros(1, b.shape[1], dtype=F64)])
    for method in METHODS:
        res = sinkhorn(C, a, b, 0.1, tol=1e-10, method=method)
        assert torch.isfinite(res.plan).all() and torch.isfinite(res.cost).all()
        assert res.plan[2].abs().sum().item() == 0.0 and res.cost[2].item() == 0.0
        assert res.f[2].abs().sum().item() == 0.0 and res.g[2].abs().sum().item() == 0.0
        assert res.converged
    # unbalanced: one side empty, the other not -> empty plan, no NaN
    a2 = a.clone()
    a2[0] = 0
    res = sinkhorn(torch.nan_to_num(C), a2, b, 0.1, tau=1.0, tol=1e-10)
    assert torch.isfinite(res.plan).all()
    assert res.plan[0].abs().sum().item() == 0.0


def test_nan_in_padding_is_ignored_and_nan_in_valid_entry_raises():
    C, a, b, _ = _padded_batch([(4, 5), (2, 3)], seed=70)
    C[1, 3, 4] = float("nan")                         # padding of element 1
    C[1, 0, 4] = float("inf")
    res = sinkhorn(C, a, b, 0.1)
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.cost).all()
    C[1, 1, 1] = float("nan")                         # a real entry of element 1
    with pytest.raises(NumericalError, match=r"batch element\(s\) \[1\]"):
        sinkhorn(C, a, b, 0.1)
    with pytest.raises(NumericalError, match="float32|learning rate"):
        sinkhorn(C, a, b, 0.1)
    a_bad = a.clone()
    a_bad[0, 0] = float("nan")
    with pytest.raises(NumericalError, match="marginal a"):
        sinkhorn(torch.nan_to_num(C), a_bad, b, 0.1)


def test_invalid_inputs_raise_config_errors():
    C, a, b = _problem(3, 4, seed=80)
    with pytest.raises(ConfigError, match="a.sum\\(\\) == b.sum\\(\\)"):
        sinkhorn(C, a, 2 * b, 0.1)
    with pytest.raises(ConfigError, match="negative"):
        sinkhorn(C, -a, b, 0.1)
    with pytest.raises(ConfigError, match="reg"):
        sinkhorn(C, a, b, 0.0)
    with pytest.raises(ConfigError, match="grad"):
        sinkhorn(C, a, b, 0.1, grad="implicit")
    with pytest.raises(ConfigError, match="method"):
        sinkhorn(C, a, b, 0.1, method="greenkhorn")
    with pytest.raises(ConfigError, match="tau"):
        sinkhorn(C, a, b, 0.1, tau=-1.0)
    with pytest.raises(ConfigError, match="shape"):
        sinkhorn(C, a[:2], b, 0.1)
    # unequal masses are fine for unbalanced OT
    assert torch.isfinite(sinkhorn(C, a, 2 * b, 0.1, tau=1.0).plan).all()


def test_convergence_warning_at_max_iter_1():
    C, a, b = _problem(10, 10, seed=90)
    with pytest.warns(ConvergenceWarning, match="(?i)increase max_iter or reg") as record:
        res = sinkhorn(C, a, b, 0.01, max_iter=1, tol=1e-9)
    assert issubclass(record[0].category, UserWarning)
    assert not res.converged and res.n_iter == 1 and res.err > 1e-9
    assert not bool(res.batch_converged)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn(C, a, b, 0.01, max_iter=1, tol=1e-9, warn=False)        # silenced on request
        sinkhorn(C, a, b, 0.1, tol=1e-6)                                  # converges: no warning


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("eps_scaling", [None, False])
def test_float32_stable_at_reg_1e_3(method, eps_scaling):
    C, a, b, _ = _padded_batch([(30, 40), (25, 17), (40, 33), (8, 40)], seed=100, dtype=torch.float32)
    res = sinkhorn(C, a, b, 1e-3, tol=1e-3, max_iter=20000, method=method, eps_scaling=eps_scaling)
    assert res.plan.dtype == torch.float32
    assert torch.isfinite(res.plan).all() and torch.isfinite(res.cost).all()
    assert torch.isfinite(res.f).all() and torch.isfinite(res.g).all()
    assert res.converged
    assert (res.plan >= 0).all()
    assert ((res.plan.sum(2) - a).abs().sum(1)).max().item() <= 1e-3
    assert ((res.plan.sum(1) - b).abs().sum(1)).max().item() <= 1e-3
    # same answer as float64 (float32 marginals are balanced up to rounding: rescaled inside)
    ref = sinkhorn(C.double(), a.double(), b.double(), 1e-3, tol=1e-9, max_iter=50000)
    assert (res.cost.double() - ref.cost).abs().max().item() <= 1e-3


def test_float32_matches_pot_at_moderate_reg():
    C, a, b = _problem(20, 25, seed=101, dtype=torch.float32)
    res = sinkhorn(C, a, b, 0.05, tol=1e-5)
    P_pot, value_pot = _pot_log(C, a, b, 0.05)
    assert (res.plan.double() - P_pot).abs().max().item() <= 1e-4
    assert abs(res.cost.item() - value_pot) <= 1e-4


def test_methods_agree():
    C, a, b, _ = _padded_batch([(9, 11), (5, 2)], seed=110)
    r1 = sinkhorn(C, a, b, 0.03, tol=1e-11, max_iter=100000, method="stabilized")
    r2 = sinkhorn(C, a, b, 0.03, tol=1e-11, max_iter=100000, method="log")
    assert (r1.plan - r2.plan).abs().max().item() <= 1e-10
    assert (r1.f - r2.f).abs().max().item() <= 1e-7 and (r1.g - r2.g).abs().max().item() <= 1e-7


# --------------------------------------------------------------------------- gradients
def test_envelope_gradient_is_the_plan():
    C, a, b, _ = _padded_batch([(6, 5), (4, 7)], seed=120)
    C = C.requires_grad_()
    res = sinkhorn(C, a, b, 0.1, tol=1e-10, grad="envelope")
    assert not res.plan.requires_grad and res.cost.requires_grad
    (grad,) = torch.autograd.grad(res.cost.sum(), C)
    assert torch.isfinite(grad).all()
    assert torch.equal(grad, res.plan)


@pytest.mark.parametrize("method", METHODS)
def test_unrolled_gradient_matches_finite_differences(method):
    C, a, b = _problem(4, 5, seed=130)
    reg = 0.2

    def value(Cv):
        return sinkhorn(Cv, a, b, reg, tol=1e-13, max_iter=100000, method=method, grad="unrolled").cost

    Cg = C.clone().requires_grad_()
    (grad,) = torch.autograd.grad(value(Cg), Cg)
    assert torch.isfinite(grad).all()
    h = 1e-6
    for i, j in [(0, 0), (1, 3), (3, 4), (2, 1)]:
        E = torch.zeros_like(C)
        E[i, j] = h
        fd = (value(C + E) - value(C - E)).item() / (2 * h)
        assert abs(grad[i, j].item() - fd) <= 1e-6 + 1e-4 * abs(fd)
    # the linear cost's gradient is not the plan (the plan moves with C) ...
    res = sinkhorn(C, a, b, reg, tol=1e-13, max_iter=100000)
    assert (grad - res.plan).abs().max().item() > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_unrolled_gradient_of_entropic_objective_equals_envelope(method):
    """At convergence, d/dC of the dual objective through the iterations is the plan."""
    C, a, b, _ = _padded_batch([(5, 6), (7, 3)], seed=140)
    reg = 0.1
    Cg = C.clone().requires_grad_()
    res = sinkhorn(Cg, a, b, reg, tol=1e-12, max_iter=100000, method=method, grad="unrolled")
    dual = (a * res.f).sum() + (b * res.g).sum() - reg * res.plan.sum()
    (grad,) = torch.autograd.grad(dual, Cg)
    env = sinkhorn(C, a, b, reg, tol=1e-12, max_iter=100000, grad="envelope").plan
    assert (grad - env).abs().max().item() <= 1e-7
    assert grad[0, 5:].abs().sum().item() == 0.0 and grad[1, 7:].abs().sum().item() == 0.0


@pytest.mark.parametrize("grad_mode", ["envelope", "unrolled"])
@pytest.mark.parametrize("cost", ["cosine", "sqeuclidean"])
def test_ot_loss_gradients_finite_and_zero_on_padding(grad_mode, cost):
    g = torch.Generator().manual_seed(150)
    X = torch.randn(3, 6, 16, generator=g, requires_grad=True)
    Y = torch.randn(3, 8, 16, generator=g, requires_grad=True)
    x_mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 2 + [0] * 4])
    y_mask = torch.tensor([[1] * 8, [1] * 3 + [0] * 5, [1] * 7 + [0]])
    with torch.no_grad():                                 # padding states as a model emits them
        X[x_mask == 0] = 0.0
    loss, res = ot_loss(X, Y, x_mask, y_mask, reg=0.05, cost=cost, grad=grad_mode, tol=1e-6)
    assert loss.shape == (3,) and torch.isfinite(loss).all() and res.converged
    loss.sum().backward()
    assert torch.isfinite(X.grad).all() and torch.isfinite(Y.grad).all()
    assert X.grad[x_mask == 0].abs().sum().item() == 0.0
    assert Y.grad[y_mask == 0].abs().sum().item() == 0.0
    assert X.grad[x_mask == 1].abs().sum().item() > 0.0
    # the plan never moves mass to padding and has uniform marginals
    assert res.plan[x_mask == 0].abs().sum().item() == 0.0
    assert (res.plan.sum(2) - uniform_marginals(x_mask)).abs().sum(1).max().item() <= 1e-5


def test_ot_loss_envelope_matches_unrolled_value_and_unbalanced_option():
    g = torch.Generator().manual_seed(160)
    X = torch.randn(2, 5, 8, generator=g, dtype=F64)
    Y = torch.randn(2, 7, 8, generator=g, dtype=F64)
    xm, ym = torch.ones(2, 5), torch.ones(2, 7)
    l1, _ = ot_loss(X, Y, xm, ym, reg=0.1, grad="envelope", tol=1e-10)
    l2, _ = ot_loss(X, Y, xm, ym, reg=0.1, grad="unrolled", tol=1e-10)
    assert (l1 - l2).abs().max().item() <= 1e-10
    lu, ru = ot_loss(X, Y, xm, ym, reg=0.1, unbalanced_tau=0.5, tol=1e-10)
    assert torch.isfinite(lu).all() and ru.converged
    C = cosine_cost(X, Y)
    ref = sinkhorn(C, uniform_marginals(xm, F64), uniform_marginals(ym, F64), 0.1, tau=0.5, tol=1e-10)
    assert (lu - ref.cost).abs().max().item() <= 1e-10
    with pytest.raises(ConfigError, match="unknown cost"):
        ot_loss(X, Y, xm, ym, cost="manhattan")


# --------------------------------------------------------------------------- cost and marginal helpers
def test_cosine_cost_values_and_gradient():
    g = torch.Generator().manual_seed(170)
    X = torch.randn(2, 4, 6, generator=g, dtype=F64, requires_grad=True)
    Y = torch.randn(2, 3, 6, generator=g, dtype=F64, requires_grad=True)
    ref = 1 - torch.nn.functional.cosine_similarity(X[:, :, None, :], Y[:, None, :, :], dim=-1)
    assert (cosine_cost(X, Y) - ref).abs().max().item() <= 1e-12
    assert torch.autograd.gradcheck(cosine_cost, (X, Y))
    Z = torch.zeros(1, 2, 6, dtype=F64)
    assert torch.equal(cosine_cost(Z, Y[:1].detach()), torch.ones(1, 2, 3, dtype=F64))
    with pytest.raises(ConfigError):
        cosine_cost(X, Y[..., :5])


def test_sqeuclidean_cost_values():
    g = torch.Generator().manual_seed(171)
    X = torch.randn(2, 4, 6, generator=g, dtype=F64)
    Y = torch.randn(2, 3, 6, generator=g, dtype=F64)
    ref = torch.cdist(X, Y) ** 2 / 6
    C = sqeuclidean_cost(X, Y)
    assert (C - ref).abs().max().item() <= 1e-10 and (C >= 0).all()
    assert sqeuclidean_cost(X, X).diagonal(dim1=1, dim2=2).abs().max().item() <= 1e-12


def test_uniform_marginals():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    w = uniform_marginals(mask)
    assert torch.equal(w, torch.tensor([[0.5, 0.5, 0, 0], [0.25] * 4, [0.0] * 4]))


def test_idf_marginals():
    idf = torch.tensor([0.0, 1.0, 3.0, -2.0, float("nan")])
    ids = torch.tensor([[1, 2, 1, 0], [0, 3, 0, 0], [9, 9, 9, 9]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    w = idf_marginals(ids, mask, idf)
    assert torch.allclose(w[0], torch.tensor([0.2, 0.6, 0.2, 0.0]))
    assert torch.equal(w[1], torch.tensor([0.5, 0.5, 0.0, 0.0]))      # all idf <= 0 -> uniform
    assert torch.equal(w[2], torch.zeros(4))                          # padded ids are not looked up
    with pytest.raises(ConfigError, match="outside the idf table"):
        idf_marginals(torch.tensor([[7]]), torch.tensor([[1]]), idf)
    with pytest.raises(NumericalError, match="idf"):
        idf_marginals(torch.tensor([[4]]), torch.tensor([[1]]), idf)


# --------------------------------------------------------------------------- property tests
@st.composite
def _masked_batches(draw, max_b=3, max_len=7):
    B = draw(st.integers(1, max_b))
    n = draw(st.integers(1, max_len))
    m = draw(st.integers(1, max_len))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    C = torch.rand(B, n, m, generator=g, dtype=F64)
    a = torch.rand(B, n, generator=g, dtype=F64) + 0.05
    b = torch.rand(B, m, generator=g, dtype=F64) + 0.05
    row_mask = torch.rand(B, n, generator=g) < draw(st.floats(0.3, 1.0))
    col_mask = torch.rand(B, m, generator=g) < draw(st.floats(0.3, 1.0))
    for i in range(B):
        if draw(st.booleans()) and B > 1 and i == B - 1:     # sometimes a fully padded element
            row_mask[i] = False
            col_mask[i] = False
            continue
        row_mask[i, int(torch.randint(n, (1,), generator=g))] = True
        col_mask[i, int(torch.randint(m, (1,), generator=g))] = True
    a, b = a * row_mask, b * col_mask
    a = a / a.sum(1, keepdim=True).clamp_min(1e-300)
    b = b / b.sum(1, keepdim=True).clamp_min(1e-300)
    return C, a, b, row_mask, col_mask


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_masked_batches(), st.floats(0.05, 1.0), st.sampled_from(METHODS))
def test_property_balanced_invariants(batch, reg, method):
    C, a, b, row_mask, col_mask = batch
    res = sinkhorn(C, a, b, reg, tol=1e-9, max_iter=20000, method=method)
    pad = ~(row_mask[:, :, None] & col_mask[:, None, :])
    assert res.converged
    assert torch.isfinite(res.plan).all() and (res.plan >= 0).all()
    assert res.plan[pad].abs().sum().item() == 0.0
    assert (res.plan.sum(2) - a).abs().sum(1).max().item() <= 1e-9
    assert (res.plan.sum(1) - b).abs().sum(1).max().item() <= 1e-9
    assert torch.isfinite(res.cost).all() and (res.cost >= 0).all()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_masked_batches(max_b=2, max_len=6), st.floats(0.1, 1.0), st.floats(0.05, 5.0),
       st.floats(0.3, 3.0))
def test_property_unbalanced_matches_pot_per_element(batch, reg, tau, mass):
    C, a, b, row_mask, col_mask = batch
    b = b * mass
    res = sinkhorn(C, a, b, reg, tau=tau, tol=1e-12, max_iter=200000)
    assert torch.isfinite(res.plan).all() and (res.plan >= 0).all()
    assert res.plan[~(row_mask[:, :, None] & col_mask[:, None, :])].abs().sum().item() == 0.0
    for i in range(C.shape[0]):
        r, c = row_mask[i], col_mask[i]
        if not r.any() or not c.any():
            assert res.plan[i].abs().sum().item() == 0.0
            continue
        P = pot.unbalanced.sinkhorn_unbalanced(
            a[i, r].numpy(), b[i, c].numpy(), C[i][r][:, c].numpy(), reg, tau,
            method="sinkhorn", numItermax=200000, stopThr=1e-15)
        assert np.abs(res.plan[i][r][:, c].numpy() - P).max() <= 1e-7


# --------------------------------------------------------------------------- benchmark CLI
def test_bench_cli_structure_and_small_run(tmp_path):
    parser = bench.build_parser()
    args = parser.parse_args(["ot", "--batch", "3", "--repeats", "1"])
    assert args.command == "ot" and args.batch == 3 and "ot" in bench.SUBCOMMANDS
    out = tmp_path / "ot.txt"
    rc = bench.main(["ot", "--batch", "3", "--min-len", "3", "--max-len", "6", "--dim", "8",
                     "--repeats", "1", "--out", str(out)])
    assert rc == 0
    text = out.read_text().splitlines()
    assert text[0].endswith(f"-m optical_rerank.bench ot --batch 3 --min-len 3 --max-len 6 --dim 8 "
                            f"--repeats 1 --out {out}")
    assert any(line.strip().startswith("solver forward") for line in text)
    result = bench.benchmark_ot(batch=3, min_len=3, max_len=6, dim=8, repeats=1)
    assert result["max_abs_objective_diff"] <= 1e-4
    assert all(math.isfinite(row["ratio"]) and row["ratio"] > 0 for row in result["rows"])
