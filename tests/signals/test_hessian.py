"""Hutchinson's estimator and Hessian-vector products against exact Hessians; AdaHessian moments; AdaCore's
preconditioning."""

import numpy as np
import pytest
import torch
from torch import nn

from lessdata.errors import LessdataError
from lessdata.signals import (
    CurvatureEMA,
    hessian_vector_product,
    hutchinson_diagonal,
    last_layer_hessian_diagonal,
    last_layer_inputs,
    precondition,
)


def quadratic(seed=0, d=7):
    """L(θ) = ½ θᵀAθ + bᵀθ over two parameter tensors (a 2x2 matrix and a 3-vector): Hessian A."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(d, d))
    A = torch.tensor(M @ M.T / d + np.eye(d), dtype=torch.float64)
    b = torch.tensor(rng.normal(size=d), dtype=torch.float64)
    p1 = torch.tensor(rng.normal(size=(2, 2)), dtype=torch.float64, requires_grad=True)
    p2 = torch.tensor(rng.normal(size=d - 4), dtype=torch.float64, requires_grad=True)
    theta = torch.cat([p1.reshape(-1), p2])
    return 0.5 * theta @ A @ theta + b @ theta, [p1, p2], A, b, theta.detach()


def test_hutchinson_matches_the_exact_diagonal_of_a_quadratic():
    loss, params, A, b, theta = quadratic()
    grads, diag = hutchinson_diagonal(loss, params, samples=1000, generator=torch.Generator().manual_seed(0))
    estimate = torch.cat([d.reshape(-1) for d in diag])
    # z_i (Az)_i = A_ii + Σ_{j≠i} A_ij z_i z_j: the noise has variance Σ_{j≠i} A_ij² per sample
    noise = ((A**2).sum(dim=1) - torch.diagonal(A) ** 2).sqrt() / np.sqrt(1000)
    assert torch.all((estimate - torch.diagonal(A)).abs() <= 5 * noise + 1e-12)
    assert torch.allclose(torch.cat([g.reshape(-1) for g in grads]), A @ theta + b)
    assert [d.shape for d in diag] == [p.shape for p in params]


def test_hutchinson_is_exact_for_a_diagonal_hessian_with_one_sample():
    theta = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    loss = (torch.tensor([3.0, 1.0, 4.0]) * theta**2).sum() / 2 + theta.sum()
    _, diag = hutchinson_diagonal(loss, [theta], generator=torch.Generator().manual_seed(1))
    assert torch.allclose(diag[0], torch.tensor([3.0, 1.0, 4.0]))


def test_hessian_vector_product_is_exact():
    loss, params, A, _, _ = quadratic(seed=3)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    v = torch.arange(1.0, 8.0, dtype=torch.float64)
    hv = hessian_vector_product(grads, params, [v[:4].reshape(2, 2), v[4:]])
    assert torch.allclose(torch.cat([h.reshape(-1) for h in hv]), A @ v)


def test_parameters_the_loss_is_linear_in_get_a_zero_diagonal():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    c = torch.tensor([3.0], requires_grad=True)
    grads, diag = hutchinson_diagonal((a**2).sum() + 5 * c.sum(), [a, c])
    assert torch.allclose(diag[0], torch.tensor([2.0, 2.0])) and torch.equal(diag[1], torch.zeros(1))
    assert torch.allclose(grads[1], torch.tensor([5.0]))


def closed_form_last_layer_diagonal(model, X, y):
    """Hessian of mean CE w.r.t. W[c, j] is mean_i p_ic (1 − p_ic) h_ij², w.r.t. b[c] mean_i p_ic (1 − p_ic)."""
    h, z, labels = last_layer_inputs(model, X, y)
    assert labels.tolist() == list(y)
    p = torch.softmax(torch.from_numpy(z).double(), dim=1).numpy()
    curv = p * (1 - p)
    return np.concatenate([(curv[:, :, None] * h[:, None, :] ** 2).mean(axis=0).reshape(-1), curv.mean(axis=0)])


@pytest.fixture
def small_classifier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    X = np.random.default_rng(0).normal(size=(24, 5)).astype(np.float32)
    return model, X, np.arange(24) % 3


def test_last_layer_diagonal_matches_the_closed_form_for_cross_entropy(small_classifier):
    model, X, y = small_classifier
    exact = closed_form_last_layer_diagonal(model, X, y)
    estimate = last_layer_hessian_diagonal(model, X, y, samples=600, batch_size=24,
                                           generator=torch.Generator().manual_seed(0))
    assert estimate.shape == (3 * 4 + 3,)
    np.testing.assert_allclose(estimate, exact, rtol=0.2, atol=0.03 * exact.max())


def test_last_layer_diagonal_averages_batches_and_feeds_an_ema(small_classifier):
    model, X, y = small_classifier
    ema = CurvatureEMA(beta2=0.5)
    # the mean loss's Hessian is the size-weighted mean of the batches' Hessians
    split = last_layer_hessian_diagonal(model, X, y, samples=600, batch_size=10, ema=ema,
                                        generator=torch.Generator().manual_seed(1))
    exact = closed_form_last_layer_diagonal(model, X, y)
    np.testing.assert_allclose(split, exact, rtol=0.2, atol=0.03 * exact.max())
    assert ema.steps == 3 and ema.curvature.shape == (3 * 4 + 3,)


def test_curvature_ema_is_bias_corrected_like_adahessian():
    ema = CurvatureEMA(beta1=0.9, beta2=0.999, eps=0.0)
    g = [torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.0]), torch.tensor([0.0, 4.0])]
    d = [torch.tensor([4.0, 1.0]), torch.tensor([-2.0, 3.0]), torch.tensor([1.0, 1.0])]
    for gi, di in zip(g, d):
        ema.update(gi, [di])  # tensors or lists of tensors
    w1 = np.array([0.9**2, 0.9, 1.0]) * 0.1
    w2 = np.array([0.999**2, 0.999, 1.0]) * 0.001
    expected_g = (w1[:, None] * torch.stack(g).numpy()).sum(0) / (1 - 0.9**3)
    expected_d = np.sqrt((w2[:, None] * torch.stack(d).numpy() ** 2).sum(0) / (1 - 0.999**3))
    np.testing.assert_allclose(ema.gradient.numpy(), expected_g, rtol=1e-6)
    np.testing.assert_allclose(ema.curvature.numpy(), expected_d, rtol=1e-6)
    constant = CurvatureEMA(eps=1e-4)
    for _ in range(5):
        constant.update(torch.tensor([3.0]), torch.tensor([-2.0]))
    assert torch.allclose(constant.gradient, torch.tensor([3.0])) and torch.allclose(
        constant.curvature, torch.tensor([2.0001]))


def test_precondition_divides_by_the_damped_diagonal():
    G = np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 0.0]], dtype=np.float32)
    D = torch.tensor([1.0, 2.0, 3.0])
    out = precondition(G, D, damping=0.5)  # denominator D + 0.5 * mean(D) = [2, 3, 4]
    np.testing.assert_allclose(out, [[1.0, 2 / 3, 0.5], [0.5, -1 / 3, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: precondition(np.ones((2, 3)), np.ones(2)), "curvature has 2 entries"),
    (lambda: precondition(np.ones((2, 2)), np.array([1.0, -1.0])), "non-negative"),
    (lambda: precondition(np.ones((2, 2)), np.ones(2), damping=-1), "damping"),
    (lambda: precondition(np.ones((2, 2)), np.zeros(2), damping=0.0), "positive everywhere"),
    (lambda: precondition(np.ones(3), np.ones(3)), "2-D"),
    (lambda: CurvatureEMA(beta2=1.0), "beta2"),
    (lambda: CurvatureEMA().curvature, "no estimate yet"),
    (lambda: hutchinson_diagonal(torch.ones(2, requires_grad=True) * 2, [torch.ones(1)]), "single number"),
    (lambda: hutchinson_diagonal(torch.ones(1).sum(), [], samples=1), "at least one parameter"),
    (lambda: hutchinson_diagonal(torch.ones(1).sum(), [torch.ones(1)], samples=0), "samples"),
])
def test_bad_inputs_get_one_line_errors(call, message):
    with pytest.raises(LessdataError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
