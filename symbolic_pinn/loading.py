"""Stage 4, loading: turn generated source into a module whose lines show in tracebacks.

The module is named after the SHA-256 of its source, and its source is registered in
:mod:`linecache` under a pseudo file name, so ``traceback`` and ``inspect.getsource``
show the generated lines. The module's ``__loader__`` also serves the source (the
standard lazy path of :mod:`linecache`), so the lines come back after
``linecache.clearcache()``; the pseudo name therefore does not have the ``<...>`` form
that :mod:`linecache` never reloads. The same source always loads to the same module object.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
import types

__all__ = ["load", "source_hash"]

_LOADED: dict[str, types.ModuleType] = {}


def source_hash(source: str) -> str:
    """The first 16 hex digits of the SHA-256 of ``source``.

    Examples:
        >>> source_hash("x = 1\\n")
        '9e26bf369911c45c'
    """
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


class _SourceLoader:
    """Hands :mod:`linecache` (and so tracebacks and ``inspect``) a module's source."""

    def __init__(self, source: str) -> None:
        self._source = source

    def get_source(self, fullname: str) -> str:
        return self._source


def load(source: str) -> types.ModuleType:
    """Compile and execute generated source as a module.

    Args:
        source: Python source from :func:`symbolic_pinn.codegen.generate`.

    Returns:
        The module, also registered in ``sys.modules`` as
        ``symbolic_pinn.generated.m<hash>``.

    Examples:
        >>> import inspect
        >>> mod = load("def f(x):\\n    return 2 * x\\n")
        >>> mod.f(3), inspect.getsource(mod.f).splitlines()[0]
        (6, 'def f(x):')
    """
    digest = source_hash(source)
    if digest in _LOADED:
        return _LOADED[digest]
    name = f"symbolic_pinn.generated.m{digest}"
    filename = f"<symbolic_pinn generated m{digest}>.py"
    lines = source.splitlines(keepends=True)
    # mtime None: linecache.checkcache() keeps entries it cannot stat.
    linecache.cache[filename] = (len(source), None, lines, filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    module.__loader__ = _SourceLoader(source)
    code = compile(source, filename, "exec", dont_inherit=True)
    exec(code, module.__dict__)  # noqa: S102 - our own generated, name-sanitised source
    sys.modules[name] = module
    _LOADED[digest] = module
    return module
