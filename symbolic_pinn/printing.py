"""Stage 3a, printing: SymPy expressions to PyTorch source, via SymPy's printer machinery.

:class:`TorchPrinter` subclasses SymPy's ``PythonCodePrinter``: the operator layout,
precedence and parenthesisation are SymPy's; this class maps functions to ``torch``,
folds constant sub-expressions to float literals, and refuses what it cannot print.
"""

from __future__ import annotations

import ast
import keyword

import sympy as sp
from sympy.printing.codeprinter import CodePrinter
from sympy.printing.pycode import PythonCodePrinter, _known_functions, _known_functions_math

from .errors import CodegenError

__all__ = ["TorchPrinter", "torch_code", "scaled_input"]

_TORCH_FUNCTIONS = {
    "sin": "torch.sin", "cos": "torch.cos", "tan": "torch.tan",
    "asin": "torch.asin", "acos": "torch.acos", "atan": "torch.atan",
    "sinh": "torch.sinh", "cosh": "torch.cosh", "tanh": "torch.tanh",
    "asinh": "torch.asinh", "acosh": "torch.acosh", "atanh": "torch.atanh",
    "exp": "torch.exp", "log": "torch.log", "Abs": "torch.abs", "sign": "torch.sign",
    "erf": "torch.erf", "erfc": "torch.erfc", "floor": "torch.floor",
    "ceiling": "torch.ceil", "atan2": "torch.atan2",
}  # fmt: skip


class TorchPrinter(PythonCodePrinter):
    """Print lowered residuals as PyTorch expressions.

    Symbols must already carry safe identifiers (analysis guarantees it); any other
    name is refused rather than printed.

    Examples:
        >>> import sympy as sp
        >>> x, u_xx = sp.symbols("x u_xx")
        >>> torch_code(u_xx + sp.pi**2 * sp.sin(sp.pi * x))
        'u_xx + 9.869604401089358*torch.sin(math.pi*x)'
        >>> torch_code(sp.sqrt(x) + x**2 / 2)
        'torch.sqrt(x) + (1/2)*x**2'
    """

    printmethod = "_torchcode"
    language = "PyTorch"

    def __init__(self, settings=None) -> None:
        super().__init__(dict(settings or {}, fully_qualified_modules=True, strict=True))
        self.known_functions = {}  # everything goes through _print_Function below
        self.known_constants = {}

    def _print_Symbol(self, expr: sp.Symbol) -> str:
        name = expr.name
        if not name.isidentifier() or keyword.iskeyword(name):
            raise CodegenError(f"symbol {name!r} is not a safe identifier; analysis missed it")
        return name

    _print_Dummy = _print_Symbol

    def _print_Function(self, expr: sp.Function) -> str:
        if not expr.free_symbols:
            return self._number(expr)
        name = type(expr).__name__
        if name not in _TORCH_FUNCTIONS:
            raise CodegenError(
                f"function {name} in {expr} has no PyTorch translation; supported: "
                f"{', '.join(sorted(_TORCH_FUNCTIONS))}, powers (sqrt), Mod and "
                "Piecewise (with a final (value, True) branch)"
            )
        args = [self._print(a) for a in expr.args]
        if any(not arg.free_symbols for arg in expr.args):  # torch.atan2 takes tensors only:
            # a constant becomes one, shaped like a symbol of the other argument
            # (broadcasting does the rest; vmap-safe)
            like = self._like(expr.free_symbols)
            args = [code if arg.free_symbols else f"torch.full_like({like}, {code})"
                    for arg, code in zip(expr.args, args)]
        return f"{_TORCH_FUNCTIONS[name]}({', '.join(args)})"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if not expr.free_symbols:
            return self._number(expr)
        if expr.exp == sp.S.Half:
            return f"torch.sqrt({self._print(expr.base)})"
        if expr.exp == -sp.S.Half:
            return f"1/torch.sqrt({self._print(expr.base)})"
        return super()._print_Pow(expr, rational=rational)

    def _print_Mul(self, expr: sp.Mul) -> str:
        # Two or more numeric factors that print as floats fold into one coefficient:
        # -0.0067*exp(0.5*sqrt(4*pi**2 + 100))*y prints as one float, not a product of
        # two; 16*pi**2*x stays 16*9.869604401089358*x and 2*pi*x stays 2*math.pi*x.
        numbers = [a for a in expr.args if not a.free_symbols]
        floats = [a for a in numbers if not (a.is_Rational or isinstance(a, sp.NumberSymbol))]
        if len(floats) > 1:
            rest = [a for a in expr.args if a.free_symbols]
            folded = sp.Float(float(self._number(sp.Mul(*numbers))))
            return self._print(sp.Mul(folded, *rest))
        return super()._print_Mul(expr)

    def _print_Pi(self, expr) -> str:
        return "math.pi"

    def _print_Exp1(self, expr) -> str:
        return "math.e"

    def _print_NumberSymbol(self, expr: sp.NumberSymbol) -> str:
        return self._number(expr)

    _print_EulerGamma = _print_GoldenRatio = _print_Catalan = _print_NumberSymbol

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Integer(self, expr: sp.Integer) -> str:
        # torch cannot take a Python int beyond 64 bits; past 2**53 a float is no less exact
        if abs(expr.p) <= 2**53:
            return super()._print_Integer(expr)
        try:
            return repr(float(expr.p))  # the nearest double
        except OverflowError:
            raise CodegenError(f"the integer {sp.N(expr, 5)} is beyond the float range") from None

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        if expr.args[-1].cond != sp.true:
            raise CodegenError(f"Piecewise {expr} needs a final (value, True) branch")
        like = None
        if not any(value.free_symbols for value, _ in expr.args):
            # constant branches only: torch.where of two Python numbers would be a tensor of
            # the default dtype (float32, int64), not the networks' one
            like = self._like(expr.free_symbols)

        def branch(value: sp.Basic) -> str:
            code = self._print(value)
            return code if like is None else f"torch.full_like({like}, {code})"

        code = branch(expr.args[-1].expr)
        for value, cond in reversed(expr.args[:-1]):
            code = f"torch.where({self._print(cond)}, {branch(value)}, {code})"
        return code

    def _print_ImaginaryUnit(self, expr) -> str:
        raise CodegenError("complex numbers are not supported")

    def _print_Derivative(self, expr) -> str:
        raise CodegenError(f"derivative {expr} reached the printer; it should have been lowered")

    def _print_not_supported(self, expr) -> str:
        raise CodegenError(f"{type(expr).__name__} in {expr} has no PyTorch translation")

    def _print_NonFinite(self, expr) -> str:
        raise CodegenError(f"the constant {expr} is not finite")

    _print_Infinity = _print_NegativeInfinity = _print_NaN = _print_NonFinite
    _print_ComplexInfinity = _print_NonFinite

    def _print_And(self, expr) -> str:  # elementwise on tensors, never Python's `and`
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr) -> str:
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr) -> str:
        return f"(~{self._print(expr.args[0])})"

    def _like(self, symbols: set) -> str:
        """The symbol (shortest name) whose tensor a constant can be shaped after."""
        return self._print(min(symbols, key=lambda s: (len(str(s)), str(s))))

    def _number(self, expr: sp.Expr) -> str:
        value = complex(expr.evalf(20))
        if value.imag:
            raise CodegenError(f"constant {expr} is not real")
        return repr(value.real)


# PythonCodePrinter binds ``_print_sin`` & co. to its ``math`` translations; send every
# function it knows, and every one we know, through our single mapping instead.
for _name in set(_known_functions) | set(_known_functions_math) | set(_TORCH_FUNCTIONS):
    setattr(TorchPrinter, f"_print_{_name}", TorchPrinter._print_Function)
# CodePrinter aliases ``_print_Integral`` & co. to its own ``_print_not_supported``;
# point them at ours, which raises CodegenError with a plain message.
for _name in dir(TorchPrinter):
    if getattr(TorchPrinter, _name) is CodePrinter._print_not_supported:
        setattr(TorchPrinter, _name, TorchPrinter._print_not_supported)


def scaled_input(name: str, mean: float, std: float) -> str:
    """Print the standardization ``(name - mean)/std`` of a network input.

    Examples:
        >>> scaled_input("x", 0.5, 0.25)
        '(x - 0.5)/0.25'
    """
    if mean == 0.0:
        return f"{name}/{std!r}"
    sign = "-" if mean > 0 else "+"
    return f"({name} {sign} {abs(mean)!r})/{std!r}"


def torch_code(expr: sp.Expr) -> str:
    """Print ``expr`` with :class:`TorchPrinter`.

    Args:
        expr: A lowered SymPy expression.

    Returns:
        One line of Python source.

    Raises:
        CodegenError: ``expr`` holds a function or object with no PyTorch translation;
            the message names it.

    Examples:
        >>> import sympy as sp
        >>> x, u, u_xx = sp.symbols("x u u_xx")
        >>> torch_code(u_xx + sp.sin(sp.pi * x) * u**2)
        'u**2*torch.sin(math.pi*x) + u_xx'
        >>> try:
        ...     torch_code(sp.Function("f")(x))
        ... except CodegenError as error:
        ...     print(str(error).split(";")[0])
        function f in f(x) has no PyTorch translation
    """
    try:
        code = TorchPrinter().doprint(expr)
    except CodegenError:
        raise
    except Exception as exc:  # SymPy's PrintMethodNotImplementedError and kin
        raise CodegenError(f"cannot print {expr} as PyTorch code: {exc}") from exc
    # Gate: the line may only read the expression's symbols and the torch/math modules
    # (SymPy's fallbacks print e.g. ``builtins.sum`` or ``ImmutableDenseMatrix``).
    allowed = {s.name for s in expr.free_symbols} | {"torch", "math"}
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as exc:
        raise CodegenError(f"cannot print {expr} as PyTorch code: {exc}") from exc
    unknown = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - allowed)
    if unknown:
        raise CodegenError(
            f"cannot print {expr} as PyTorch code: it would use {', '.join(unknown)}, "
            "which the generated module does not define"
        )
    return code
