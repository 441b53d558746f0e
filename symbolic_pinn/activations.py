"""Activation derivatives ``σ^(k)(z)`` for forward (Taylor-mode) propagation through MLPs.

:func:`derivatives_of` maps a supported activation module to a function ``(z, K) ->``
:class:`Plain` or :class:`Factored`, the activation's value and its derivatives up to
order ``K`` at the pre-activations ``z``. Both forms build a layer's output channels
from Faà di Bruno's rule (:func:`symbolic_pinn.channels.plan_channels`), a list of
``(k, coefficient, blocks)`` terms standing for ``Σ coefficient σ^(k)(z) Π_B z_B``:

* :class:`Plain` holds the tensors ``σ^(k)`` (sin, SiLU, GELU, ReLU, softplus, ELU).
* :class:`Factored` holds ``σ'`` and the ratios ``σ^(k) / σ'`` (tanh, sigmoid), whose
  derivatives are ``σ'`` times a polynomial in ``σ``: for tanh ``σ'' = σ'·(-2t)`` and
  ``σ''' = σ'·(6t² - 2)``. A second-order channel is then
  ``σ'·(z_xx - 2t z_x²)``: three elementwise products and no ``σ''`` tensor, where the
  plain form needs ``σ'' = -2tσ'`` first (two more, and their backward).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .networks import ACTIVATIONS

__all__ = ["Factored", "Plain", "derivatives_of"]


def _terms(rule, ch: list):
    """``(k, coef, Π_B z_B)`` for the rule's terms whose blocks are all nonzero."""
    for k, coef, blocks in rule:
        if any(ch[b] is None for b in blocks):
            continue
        prod = ch[blocks[0]]  # blocks first: seeds may be (1, w) rows
        for b in blocks[1:]:
            prod = prod * ch[b]
        yield k, coef, prod


class Plain:
    """``σ`` and its derivatives as tensors: ``derivs[k] = σ^(k)(z)``.

    Examples:
        sin's second-order channel ``σ' z_xx + σ'' z_x²`` at ``z(x) = 0.5 + 0.3 x + x²``,
        ``x = 0``, against ``d²/dx² sin(z(x))`` by autograd:

        >>> import torch
        >>> z = torch.tensor([0.5], dtype=torch.float64)
        >>> sig = derivatives_of(ACTIVATIONS["sin"]())(z, 2)
        >>> isinstance(sig, Plain), bool(torch.equal(sig.value, torch.sin(z)))
        (True, True)
        >>> expected = torch.cat([torch.sin(z), torch.cos(z), -torch.sin(z)])
        >>> bool(torch.allclose(torch.cat(sig.derivs), expected))
        True
        >>> rule = ((1, 1.0, (2,)), (2, 1.0, (1, 1)))
        >>> z_x, z_xx = torch.tensor([0.3, 2.0], dtype=torch.float64).split(1)
        >>> x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        >>> h_x, = torch.autograd.grad(torch.sin(0.5 + 0.3 * x + x**2), x, create_graph=True)
        >>> h_xx, = torch.autograd.grad(h_x, x)
        >>> bool(torch.allclose(sig.channel(rule, [z, z_x, z_xx]), h_xx))
        True
        >>> sig.channel(rule, [z, None, None]) is None  # z_x = z_xx = 0
        True
    """

    __slots__ = ("derivs",)

    def __init__(self, derivs: list[torch.Tensor]) -> None:
        self.derivs = derivs

    @property
    def value(self) -> torch.Tensor:
        """``σ(z)``, the first of ``derivs``."""
        return self.derivs[0]

    def channel(self, rule, ch: list) -> torch.Tensor | None:
        """``Σ coef σ^(k) Π_B z_B`` over the rule's terms whose blocks are all nonzero
        (``None`` if none is)."""
        acc = None
        for k, coef, prod in _terms(rule, ch):
            if acc is None:
                acc = self.derivs[k] * prod
                if coef != 1.0:
                    acc = coef * acc
            else:
                acc = torch.addcmul(acc, self.derivs[k], prod, value=coef)
        return acc


class Factored:
    """``σ`` and ``σ^(k) = factor · ratio_k`` (``k ≥ 1``).

    ``ratios[k - 1]`` is ``(c, None)`` for the constant ``c`` or ``(c, y)`` for ``c·y``
    with a tensor ``y``. A channel is ``factor · Σ coef ratio_k Π_B z_B``: the sum adds
    constant-ratio terms without a product and scaled-tensor ratios by one ``addcmul``.

    Examples:
        tanh (``t = tanh z``): ``σ' = 1 - t²`` and the ratios ``1``, ``-2t``, ``6t² - 2``.
        The third-order channel ``σ' z_3 + 3σ'' z_1 z_2 + σ^(3) z_1³`` (Faà di Bruno) is
        checked against that sum written out by hand, which autograd's
        ``d³/dx³ tanh(z(x))`` confirms at ``z(x) = 0.5 + 0.3 x + x² - x³/6``, ``x = 0``:

        >>> import torch
        >>> z = torch.tensor([0.5], dtype=torch.float64)
        >>> sig, t = derivatives_of(nn.Tanh())(z, 3), torch.tanh(z)
        >>> isinstance(sig, Factored), bool(torch.allclose(sig.factor, 1 - t**2))
        (True, True)
        >>> sig.ratios[0], sig.ratios[1][0], sig.ratios[1][1] is sig.value
        ((1.0, None), -2.0, True)
        >>> bool(torch.allclose(sig.ratios[2][0] * sig.ratios[2][1], 6 * t**2 - 2))
        True
        >>> rule = ((1, 1.0, (3,)), (2, 3.0, (1, 2)), (3, 1.0, (1, 1, 1)))
        >>> z1, z2, z3 = 0.3, 2.0, -1.0
        >>> d1 = 1 - t**2
        >>> by_hand = d1 * z3 + 3 * (-2 * t * d1) * z1 * z2 + (6 * t**2 - 2) * d1 * z1**3
        >>> ch = [z, *torch.tensor([z1, z2, z3], dtype=torch.float64).split(1)]
        >>> bool(torch.allclose(sig.channel(rule, ch), by_hand))
        True
        >>> x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        >>> h = torch.tanh(0.5 + 0.3 * x + x**2 - x**3 / 6)
        >>> h_x, = torch.autograd.grad(h, x, create_graph=True)
        >>> h_xx, = torch.autograd.grad(h_x, x, create_graph=True)
        >>> h_xxx, = torch.autograd.grad(h_xx, x)
        >>> bool(torch.allclose(by_hand, h_xxx))
        True
    """

    __slots__ = ("factor", "ratios", "value")

    def __init__(self, value: torch.Tensor, factor: torch.Tensor | None,
                 ratios: list[tuple[float, torch.Tensor | None]]) -> None:
        self.value, self.factor, self.ratios = value, factor, ratios

    def channel(self, rule, ch: list) -> torch.Tensor | None:
        """``Σ coef σ^(k) Π_B z_B`` over the rule's terms whose blocks are all nonzero
        (``None`` if none is)."""
        acc = None
        for k, coef, prod in _terms(rule, ch):
            scale, y = self.ratios[k - 1]
            c = coef * scale
            if acc is None:  # the constant onto the product: at the first layer a row
                acc = prod if c == 1.0 else prod * c
                if y is not None:
                    acc = y * acc
            elif y is None:
                acc = acc + prod if c == 1.0 else torch.add(acc, prod, alpha=c)
            else:
                acc = torch.addcmul(acc, y, prod, value=c)
        return None if acc is None else self.factor * acc


# -- polynomials in y = σ(z) (coefficient lists, constant first) ---------------------------


def _derivative(p: list[float]) -> list[float]:
    return [i * c for i, c in enumerate(p)][1:] or [0.0]


def _times(p: list[float], q: list[float]) -> list[float]:
    out = [0.0] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _evaluate(p: list[float], y: torch.Tensor) -> tuple[float, torch.Tensor | None]:
    """``p(y)`` as ``(c, None)`` (a constant), ``(c, y)`` (a monomial c·y) or ``(1, tensor)``."""
    while len(p) > 1 and p[-1] == 0.0:
        p = p[:-1]
    if len(p) == 1:
        return p[0], None
    if len(p) == 2 and p[0] == 0.0:
        return p[1], y
    acc = y * p[-1] if p[-1] != 1.0 else y  # Horner
    for c in reversed(p[1:-1]):
        acc = (acc + c) * y if c else acc * y
    return 1.0, acc + p[0] if p[0] else acc


def _poly_derivatives(y: torch.Tensor, K: int, chain: list[float]) -> list[torch.Tensor]:
    """σ^(k) as polynomials in y = σ(z) with dy/dz = chain(y) (tanh, sigmoid)."""
    out, poly = [y], [0.0, 1.0]
    for _ in range(K):
        poly = _times(_derivative(poly), chain)
        acc = torch.full_like(y, poly[-1])
        for c in reversed(poly[:-1]):
            acc = acc * y + c if c else acc * y
        out.append(acc)
    return out


@functools.lru_cache(maxsize=64)
def _ratio_polynomials(K: int, chain: tuple[float, ...]) -> tuple[list[float], ...]:
    """The polynomials ``P'_(k-1)`` of :func:`_factored` for ``k = 1..K`` (computed once
    per order and activation, not at every layer of every step)."""
    out, poly = [], [0.0, 1.0]
    for _ in range(K):
        ratio = _derivative(poly)
        out.append(ratio)
        poly = _times(ratio, list(chain))
    return tuple(out)


def _factored(y: torch.Tensor, factor: torch.Tensor, K: int,
              chain: Sequence[float]) -> Factored:
    """σ^(k) = chain(y) · P'_(k-1)(y), with P_0 = y and P_k = P'_(k-1) · chain."""
    chain = tuple(chain)
    # (under torch.compile uncached: dynamo does not trace through the lru_cache wrapper)
    polys = (_ratio_polynomials.__wrapped__(K, chain) if torch.compiler.is_compiling()
             else _ratio_polynomials(K, chain))
    ratios = [_evaluate(ratio, y) for ratio in polys]
    return Factored(y, factor if K else None, ratios)


# -- the activations -----------------------------------------------------------------------


def _tanh(z: torch.Tensor, K: int) -> Factored:
    t = torch.tanh(z)  # 1 - t²: torch.rsub directly (the operator goes through a Python wrapper)
    return _factored(t, torch.rsub(t * t, 1) if K else None, K, (1.0, 0.0, -1.0))


def _sigmoid(z: torch.Tensor, K: int) -> Factored:
    y = torch.sigmoid(z)
    return _factored(y, y - y * y if K else None, K, (0.0, 1.0, -1.0))


def _sin(z: torch.Tensor, K: int) -> Plain:
    s = torch.sin(z)
    c = torch.cos(z) if K >= 1 else None
    cycle = [s, c, -s if K >= 2 else None, -c if K >= 3 else None]
    return Plain([cycle[k % 4] for k in range(K + 1)])


def _silu(z: torch.Tensor, K: int) -> Plain:
    sig = _poly_derivatives(torch.sigmoid(z), K, [0.0, 1.0, -1.0])
    # (z σ)^(k) = z σ^(k) + k σ^(k-1)
    return Plain([z * sig[0]] + [z * sig[k] + k * sig[k - 1] for k in range(1, K + 1)])


def _hermite(m: int, z: torch.Tensor) -> torch.Tensor:
    """Probabilists' Hermite polynomial He_m(z)."""
    prev, cur = torch.ones_like(z), z
    if m == 0:
        return prev
    for n in range(1, m):
        prev, cur = cur, z * cur - n * prev
    return cur


def _gelu(z: torch.Tensor, K: int) -> Plain:
    phi = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
    # Φ^(k) = φ^(k-1) = (-1)^(k-1) He_(k-1)(z) φ(z); (zΦ)^(k) = z Φ^(k) + k Φ^(k-1)
    big_phi = [cdf] + [(-1) ** (k - 1) * _hermite(k - 1, z) * phi for k in range(1, K + 1)]
    return Plain([z * cdf] + [z * big_phi[k] + k * big_phi[k - 1] for k in range(1, K + 1)])


def _relu(z: torch.Tensor, K: int) -> Plain:
    out = [torch.relu(z)]
    if K >= 1:
        out.append((z > 0).to(z.dtype))
    return Plain(out + [torch.zeros_like(z)] * (K - 1))


def _softplus(beta: float, threshold: float) -> Callable:
    def fn(z: torch.Tensor, K: int) -> Plain:
        linear = z * beta > threshold
        value = torch.nn.functional.softplus(z, beta, threshold)
        if K == 0:
            return Plain([value])
        # softplus^(k) = β^(k-1) σ^(k-1)(βz)
        sig = _poly_derivatives(torch.sigmoid(beta * z), K - 1, [0.0, 1.0, -1.0])
        out = [value, torch.where(linear, torch.ones_like(z), sig[0])]
        zero = torch.zeros_like(z)
        out += [torch.where(linear, zero, beta ** (k - 1) * sig[k - 1]) for k in range(2, K + 1)]
        return Plain(out)
    return fn


def _elu(alpha: float) -> Callable:
    def fn(z: torch.Tensor, K: int) -> Plain:
        pos = z > 0
        value = torch.nn.functional.elu(z, alpha)
        if K == 0:
            return Plain([value])
        e = alpha * torch.exp(torch.clamp(z, max=0))
        one, zero = torch.ones_like(z), torch.zeros_like(z)
        # at z = 0 as torch's autograd: ELU' = α (the negative branch), ELU'' ... = 0,
        # and so are their derivatives (the NTK's backward pass differentiates them)
        neg = z < 0
        first = torch.where(neg, e, torch.where(pos, one, torch.full_like(z, alpha)))
        return Plain([value, first] + [torch.where(neg, e, zero)] * (K - 1))
    return fn


_SMOOTH = {nn.Tanh: _tanh, ACTIVATIONS["sin"]: _sin, nn.Sigmoid: _sigmoid, nn.SiLU: _silu}


def derivatives_of(layer: nn.Module) -> Callable | None:
    """The ``(z, K) -> Plain | Factored`` of a supported activation module, else None.

    Examples:
        >>> import torch
        >>> sig = derivatives_of(nn.Tanh())(torch.tensor([0.5], dtype=torch.float64), 3)
        >>> rule = ((1, 1.0, (1,)), (2, 1.0, (2, 2)))  # σ' z_a + σ'' z_b², as in u_xx
        >>> z_a, z_b = torch.tensor([0.3, 2.0], dtype=torch.float64).split(1)
        >>> t = torch.tanh(torch.tensor(0.5, dtype=torch.float64))
        >>> expected = (1 - t**2) * 0.3 + (-2 * t * (1 - t**2)) * 4.0
        >>> bool(torch.isclose(sig.channel(rule, [None, z_a, z_b])[0], expected))
        True
        >>> derivatives_of(nn.Hardtanh()) is None
        True
    """
    kind = type(layer)
    if kind in _SMOOTH:
        return _SMOOTH[kind]
    if kind is nn.GELU and layer.approximate == "none":
        return _gelu
    if kind is nn.ReLU:
        return _relu
    if kind is nn.Softplus:
        return _softplus(float(layer.beta), float(layer.threshold))
    if kind is nn.ELU:
        return _elu(float(layer.alpha))
    return None
