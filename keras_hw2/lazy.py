"""Lazy re-exports for the task packages (PEP 562), so importing a package does not import TensorFlow.

``keras_hw2.cnn``, ``keras_hw2.p2g`` and ``keras_hw2.hopfield`` re-export their
public names from the modules that define them; a module is imported only when
one of its names is first used. ``python -m keras_hw2.cnn --help`` therefore
runs without importing TensorFlow, and the command-line entry points can set
TensorFlow's environment before its first import.
"""
import importlib


def lazy_exports(package: str, exports: dict):
    """Module-level ``__getattr__`` and ``__dir__`` for `package` serving `exports`.

    Args:
        package: the package's ``__name__``.
        exports: ``{module name relative to the package: (public names, ...)}``.

    Returns:
        ``(__getattr__, __dir__, __all__)`` to assign in the package's ``__init__``.

    Example:
    >>> getattr_, dir_, all_ = lazy_exports("json", {"decoder": ("JSONDecodeError",)})
    >>> getattr_("JSONDecodeError").__name__, all_
    ('JSONDecodeError', ['JSONDecodeError'])
    """
    origin = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name not in origin:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{origin[name]}"), name)

    def __dir__():
        return sorted(origin)

    return __getattr__, __dir__, sorted(origin)
