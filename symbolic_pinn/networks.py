"""Networks: the multilayer perceptron PINNs usually use, with Xavier initialisation, and
the checks that the networks given to ``PhysicsInformedNN`` fit the system (one per
dependent variable or one shared, the right input and output widths, no layer that
normalises over the batch)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .errors import ProblemError, TrainingError
from .grad_mode import differentiable

__all__ = ["MLP", "ACTIVATIONS", "batch_coupled", "reused_parameters"]


class _Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


#: Activation names accepted by :class:`MLP`.
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "sin": _Sin,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
}


class MLP(nn.Sequential):
    """A fully connected network ``n_in -> hidden... -> n_out``.

    Weights use Xavier (Glorot) normal initialisation and biases start at zero, as in
    the NTK paper's wave code. The last layer is linear.

    Args:
        n_in: Number of inputs (the arguments of the dependent variable).
        n_out: Number of outputs (1, or the number of dependent variables it serves).
        hidden: Widths of the hidden layers.
        activation: One of :data:`ACTIVATIONS`.

    Examples:
        >>> net = MLP(2, 1, hidden=[16, 16])
        >>> net(torch.zeros(5, 2)).shape
        torch.Size([5, 1])
        >>> sum(p.numel() for p in net.parameters())
        337
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )
        widths = [int(n_in), *map(int, hidden), int(n_out)]
        if min(widths) < 1:
            raise ValueError(f"layer widths must be positive, got {widths}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weights (Xavier normal) and zero the biases."""
        for layer in self:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.zeros_(layer.bias)


# every BatchNorm (1d/2d/3d, their lazy forms, SyncBatchNorm) derives from this base
_BATCH_NORMS = nn.modules.batchnorm._BatchNorm


def _batch_norms(net: nn.Module):
    """``(name, module)`` of the layers that normalise with the batch's own statistics."""
    for name, module in net.named_modules():
        if isinstance(module, _BATCH_NORMS) and (module.training
                                                 or not module.track_running_stats):
            yield name, module


def batch_coupled(net: nn.Module) -> str | None:
    """The first submodule that would normalise with the batch's own statistics.

    A BatchNorm layer in training mode (or one without running statistics, in any
    mode) makes each point's output depend on every other point of the batch: the
    derivatives with respect to a point's inputs, the per-point residuals and the NTK
    diagonals are then not those of a function of the point. In evaluation mode with
    running statistics it is a fixed affine map, and fine.

    Args:
        net: A network.

    Returns:
        The offending submodule's name (``""`` for the network itself), or None.

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1))
        >>> batch_coupled(net)
        '1'
        >>> batch_coupled(net.eval()) is None
        True
    """
    return next((name for name, _ in _batch_norms(net)), None)


def check_not_batch_coupled(nets: Sequence[nn.Module], ir) -> None:
    """Raise :class:`~symbolic_pinn.errors.TrainingError` for the first network in which
    :func:`batch_coupled` finds a layer, naming the network, the dependent variables it
    serves (from the problem's ``ir``) and the layer."""
    for i, net in enumerate(nets):
        for name, module in _batch_norms(net):
            raise TrainingError(
                f"{ir.network_label(i)}: layer {name or '(the network)'!r} "
                f"({type(module).__name__}) normalises with the batch's statistics, so a "
                "point's output depends on the other points and its input derivatives are "
                "wrong; put the network in evaluation mode (net.eval(), with running "
                "statistics) or leave the layer out")


_REMEDY = {"dtype": "(e.g. net.double()); solve(dtype=...) casts them all to its dtype "
                    "(float32 by default)",
           "device": "(net.to(device)); solve(device=...) moves them all to its device (the "
                     "CPU by default)"}


def placement(nets: Sequence[nn.Module], ir) -> tuple[torch.dtype, torch.device]:
    """The networks' common floating dtype and device (of their parameters, else their
    buffers; the default dtype and the CPU if none has any); a
    :class:`~symbolic_pinn.errors.TrainingError` naming two networks that differ."""
    found = {"dtype": (None, torch.get_default_dtype()), "device": (None, torch.device("cpu"))}
    for i, net in enumerate(nets):
        tensors = list(net.parameters()) or list(net.buffers())
        dtype = next((t.dtype for t in tensors if t.is_floating_point()), None)
        for what, value in (("dtype", dtype), ("device", tensors and tensors[0].device)):
            first, known = found[what]
            if value and first is None:
                found[what] = (i, value)
            elif value and value != known:
                raise TrainingError(
                    f"{ir.network_label(first)} has {what} {known} but {ir.network_label(i)} "
                    f"has {what} {value}: the residuals evaluate every network on points of "
                    f"one {what}; give them one {what} {_REMEDY[what]}")
    return found["dtype"][1], found["device"][1]


def assign_networks(system, chain) -> tuple[tuple[nn.Module, ...], dict[str, tuple[int, int]]]:
    """The networks of ``PhysicsInformedNN(chain, ...)`` in order, and per dependent
    variable its ``(network, output column)``; a ProblemError for a layout that does not
    fit ``system``'s dependent variables."""
    names = [dv.func.__name__ for dv in system.depvars]
    if isinstance(chain, nn.Module):
        if len(names) > 1:
            args = {dv.args for dv in system.depvars}
            if len(args) > 1:
                raise ProblemError(
                    "one shared network needs every dependent variable to take the same "
                    f"arguments; got {list(system.depvars)}: pass one network per variable"
                )
        return (chain,), {name: (0, i) for i, name in enumerate(names)}
    if isinstance(chain, Mapping):
        by_name = {}
        for key, net in chain.items():
            key = getattr(key, "__name__", None) or getattr(getattr(key, "func", None),
                                                           "__name__", None) or str(key)
            if key in by_name:
                raise ProblemError(f"networks given twice for {key} (keys name the same "
                                   "dependent variable)")
            by_name[key] = net
        missing = [n for n in names if n not in by_name]
        extra = [k for k in by_name if k not in names]
        if missing or extra:
            raise ProblemError(f"networks given for {sorted(by_name)}; dependent variables "
                               f"are {names}")
        chain = [by_name[n] for n in names]
    try:
        if isinstance(chain, (str, bytes)):  # iterable, but by characters
            raise TypeError(type(chain).__name__)
        nets = tuple(chain)
    except TypeError as exc:
        raise ProblemError(f"chain must be a torch.nn.Module, a list of them or a mapping "
                           f"{{dependent variable: module}}, got {chain!r}") from exc
    wanted = f"one torch.nn.Module per dependent variable ({len(names)}: {', '.join(names)})"
    if len(nets) != len(names):
        raise ProblemError(f"expected {wanted}, got {len(nets)} object(s)")
    for i, net in enumerate(nets):
        if not isinstance(net, nn.Module):
            raise ProblemError(f"network {i} (for {names[i]}) is a {type(net).__name__} "
                               f"object, not a torch.nn.Module; give {wanted}")
        twin = next((j for j in range(i) if nets[j] is net), None)
        if twin is not None:  # its parameters would be trained twice per step
            raise ProblemError(
                f"the same network object is given for {names[twin]} and {names[i]}; give "
                "each its own network, or pass one network for all (one output column per "
                "dependent variable)")
    return nets, {name: (i, 0) for i, name in enumerate(names)}


def reused_parameters(nets: Sequence[nn.Module], indices) -> list[tuple]:
    """Every second use of a trainable parameter tensor among the networks ``indices``:
    ``("shared", i, name, j, other)`` for a tensor network ``j`` holds as ``other`` too,
    ``("layer", i, first, second)`` for a layer used twice in network ``i`` and
    ``("tied", i, first, second)`` for a weight tied between two of its layers.

    Examples:
        >>> net = MLP(1, 1, [4, 4, 4])
        >>> reused_parameters([net], [0])
        []
        >>> net[4] = net[2]  # the second hidden layer used again as the third
        >>> reused_parameters([net], [0])
        [('layer', 0, '2.weight', '4.weight'), ('layer', 0, '2.bias', '4.bias')]
        >>> other = MLP(1, 1, [4, 4, 4])
        >>> other[0].weight = net[0].weight  # a weight of the first network
        >>> reused_parameters([net, other], [0, 1])[2]
        ('shared', 1, '0.weight', 0, '0.weight')
    """
    found, owner = [], {}
    for i in indices:
        first: dict[int, str] = {}
        for name, p in nets[i].named_parameters(remove_duplicate=False):
            if not p.requires_grad:
                continue
            if id(p) in first:
                layers = [n.rpartition(".")[0] for n in (first[id(p)], name)]
                same = nets[i].get_submodule(layers[0]) is nets[i].get_submodule(layers[1])
                found.append(("layer" if same else "tied", i, first[id(p)], name))
                continue
            first[id(p)] = name
            j, other = owner.setdefault(id(p), (i, name))
            if j != i:
                found.append(("shared", i, name, j, other))
    return found


def check_networks(ir, nets: Sequence[nn.Module]) -> None:
    """Raise :class:`~symbolic_pinn.errors.TrainingError` for a network that fails on
    ``(N, k)`` inputs or returns the wrong shape (probed with two zero points, in
    evaluation mode, on its own device), that :func:`batch_coupled` rejects, or whose
    dtype or device differs from another's (:func:`placement`)."""
    for i, net in enumerate(nets):
        dvs = [dv for dv in ir.depvars if dv.net == i]
        k = len(dvs[0].args)
        dtype, device = _where(net)
        was_training = net.training  # eval: the probe must not touch BatchNorm statistics
        try:
            net.eval()
            with torch.no_grad():
                out = net(torch.zeros(2, k, dtype=dtype, device=device))
        except Exception as exc:
            raise TrainingError(
                f"{ir.network_label(i)} fails on inputs of shape (N, {k}): {exc}"
            ) from exc
        finally:
            net.train(was_training)
        want = max(dv.column for dv in dvs) + 1
        if not isinstance(out, torch.Tensor) or out.shape != (2, want):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise TrainingError(
                f"{ir.network_label(i)} must map (N, {k}) inputs to (N, {want}); "
                f"it returned {shape} for N = 2"
            )
    _check_differentiable(ir, nets)
    check_not_batch_coupled(nets, ir)
    placement(nets, ir)


def _where(net: nn.Module) -> tuple[torch.dtype, torch.device]:
    """Where to probe ``net``: its floating dtype and its device (a network the user moved
    to a GPU first is probed there)."""
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()),
                 torch.get_default_dtype())
    device = next((t.device for t in itertools.chain(net.parameters(), net.buffers())),
                  torch.device("cpu"))
    return dtype, device


def _check_differentiable(ir, nets: Sequence[nn.Module]) -> None:
    """Refuse a network whose outputs the problem differentiates but autograd cannot
    reach its inputs through (computed in NumPy, under ``no_grad``, or from detached
    inputs): every derivative of it would come out as zeros. Probed like
    :func:`check_networks`, with gradients on."""
    differentiated: dict[int, str] = {}
    for term in ir.terms:
        for site in term.sites:
            if any(node.site == site.name for node in term.derivatives):
                differentiated.setdefault(site.net, f"{site.text} (in {term.name})")
    for i, text in sorted(differentiated.items()):
        net = nets[i]
        k = len(next(dv for dv in ir.depvars if dv.net == i).args)
        dtype, device = _where(net)
        was_training = net.training
        try:
            net.eval()
            with differentiable():
                probe = torch.zeros(2, k, dtype=dtype, device=device, requires_grad=True)
                out = net(probe)
                reached = out.requires_grad and torch.autograd.grad(
                    out.sum(), probe, allow_unused=True)[0] is not None
        except Exception as exc:
            raise TrainingError(
                f"{ir.network_label(i)} fails on inputs that require gradients (the "
                f"derivatives of {text} need them): {exc}") from exc
        finally:
            net.train(was_training)
        if not reached:
            raise TrainingError(
                f"{ir.network_label(i)} returns outputs that autograd cannot differentiate "
                f"with respect to its inputs (computed outside torch's autograd, under "
                f"torch.no_grad(), from detached inputs, or not from its inputs at all), "
                f"and the problem takes derivatives of {text}: they would all be zero")
