"""Every public object has a docstring with an example (the doctests run them).

Public: a name in a module's ``__all__`` that the module defines. Its docstring holds
``>>>`` lines, or says that the module's example covers it and the module docstring
holds them (the checkpoint functions: one run followed through all of them).
"""

import importlib
import inspect
import pkgutil

import symbolic_pinn


def _public():
    for info in pkgutil.walk_packages(symbolic_pinn.__path__, "symbolic_pinn."):
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if getattr(obj, "__module__", None) == module.__name__:
                yield module, name, obj


def test_every_public_object_has_an_example():
    found, missing = 0, []
    for module, name, obj in _public():
        found += 1
        doc = inspect.getdoc(obj) or ""
        covered = "module's example" in doc and ">>>" in (module.__doc__ or "")
        if not (doc and "Examples:" in doc and (">>>" in doc or covered)):
            missing.append(f"{module.__name__}.{name}")
    assert found >= 90, found  # the walk found the package's modules (98 objects)
    assert not missing, missing


def test_public_methods_have_docstrings():
    missing = []
    for module, name, obj in _public():
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            routine = callable(value) or isinstance(value, (property, staticmethod,
                                                             classmethod))
            if routine and not inspect.getdoc(value):
                missing.append(f"{module.__name__}.{name}.{attr}")
    assert not missing, missing
