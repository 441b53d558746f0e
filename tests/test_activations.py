"""The activation derivatives of forward propagation against repeated autograd."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from symbolic_pinn.activations import Factored, Plain, derivatives_of
from symbolic_pinn.networks import ACTIVATIONS

SMOOTH = ["tanh", "sin", "sigmoid", "silu", "gelu", "softplus"]


def autograd_derivatives(module: nn.Module, z: torch.Tensor, K: int) -> list[torch.Tensor]:
    z = z.clone().requires_grad_(True)
    out, y = [], module(z)
    for _ in range(K + 1):
        out.append(y.detach())
        y = torch.autograd.grad(y.sum(), z, create_graph=True)[0]
    return out


def sigma_k(sig: Plain | Factored, k: int, z: torch.Tensor) -> torch.Tensor:
    """σ^(k)(z) from a one-term rule: the channel ``σ^(k) · z_1`` with ``z_1 = 1``."""
    if k == 0:
        return sig.value
    ones = torch.ones_like(z)
    return sig.channel(((k, 1.0, (1,)),), [None, ones])


@pytest.mark.parametrize("name", SMOOTH)
def test_derivatives_up_to_fifth_order(name):
    module = ACTIVATIONS[name]()
    z = torch.linspace(-3, 3, 41, dtype=torch.float64)
    fn = derivatives_of(module)
    want = autograd_derivatives(module, z, 5)
    for K in range(6):
        sig = fn(z, K)
        assert isinstance(sig, Factored if name in ("tanh", "sigmoid") else Plain)
        for k in range(K + 1):
            torch.testing.assert_close(sigma_k(sig, k, z), want[k], rtol=1e-10, atol=1e-10,
                                       msg=f"{name}: σ^({k}) with K={K}")


@pytest.mark.parametrize("name", ["relu", "elu"])
def test_piecewise_activations_away_from_the_kink(name):
    module = ACTIVATIONS[name]()
    z = torch.cat([torch.linspace(-3, -0.1, 20), torch.linspace(0.1, 3, 20)]).double()
    want = autograd_derivatives(module, z, 3)
    sig = derivatives_of(module)(z, 3)
    for k in range(4):
        torch.testing.assert_close(sigma_k(sig, k, z), want[k], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("module", [nn.ReLU(), nn.ELU(), nn.ELU(alpha=0.5)])
def test_piecewise_activations_at_the_kink_follow_autograd(module):
    """At ``z = 0`` exactly (every first-layer unit of an MLP with zero biases, at the
    origin) the two derivative paths take the same side: torch's ELU' takes the
    negative branch (``α``) and its higher derivatives the positive one (0)."""
    z = torch.tensor([-0.5, 0.0, 0.5], dtype=torch.float64, requires_grad=True)
    want = autograd_derivatives(module, z.detach(), 5)
    sig = derivatives_of(module)(z, 4)
    for k in range(5):
        torch.testing.assert_close(sigma_k(sig, k, z), want[k], rtol=1e-12, atol=1e-12,
                                   msg=f"{module}: σ^({k})")
        # their own derivatives too: the NTK's backward pass goes through them
        s = sigma_k(sig, k, z)
        grad = (torch.autograd.grad(s.sum(), z, retain_graph=True, allow_unused=True)[0]
                if s.requires_grad else None)
        grad = torch.zeros_like(z) if grad is None else grad
        torch.testing.assert_close(grad, want[k + 1], rtol=1e-12, atol=1e-12,
                                   msg=f"{module}: d/dz σ^({k})")


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "sin"])
def test_multi_term_rules_and_rows(name):
    """A second- and a third-order channel (Faà di Bruno's formula), with some blocks
    ``(1, w)`` rows as at the first layer and some missing (``None``, zero)."""
    torch.manual_seed(0)
    z = torch.randn(7, 5, dtype=torch.float64)
    z_a, z_ab = torch.randn(1, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    z_b, z_abb = torch.randn(7, 5, dtype=torch.float64), None
    d = autograd_derivatives(ACTIVATIONS[name](), z, 3)
    sig = derivatives_of(ACTIVATIONS[name]())(z, 3)
    ch = [z, z_a, z_b, z_ab, z_abb]
    second = ((1, 1.0, (3,)), (2, 1.0, (1, 2)))  # ∂_a∂_b σ(z) = σ' z_ab + σ'' z_a z_b
    torch.testing.assert_close(sig.channel(second, ch), d[1] * z_ab + d[2] * z_a * z_b)
    # ∂_a∂_b∂_b σ(z) with z_abb = 0 (and z_bb taken as zero too: not in the rule)
    third = ((1, 1.0, (4,)), (2, 2.0, (2, 3)), (3, 1.0, (1, 2, 2)))
    torch.testing.assert_close(sig.channel(third, ch),
                               2 * d[2] * z_b * z_ab + d[3] * z_a * z_b * z_b)
    assert sig.channel(((1, 1.0, (4,)),), ch) is None  # every term reads a zero channel
    scaled = ((1, -0.5, (3,)), (2, 3.0, (1, 1)))
    torch.testing.assert_close(sig.channel(scaled, ch), -0.5 * d[1] * z_ab + 3 * d[2] * z_a**2)
    # a first-order term after a higher one (a constant ratio added to a running sum)
    later = ((2, 1.0, (1, 2)), (1, 2.0, (3,)))
    torch.testing.assert_close(sig.channel(later, ch), d[2] * z_a * z_b + 2 * d[1] * z_ab)


def test_unsupported():
    assert derivatives_of(nn.Hardtanh()) is None
    assert derivatives_of(nn.GELU(approximate="tanh")) is None
