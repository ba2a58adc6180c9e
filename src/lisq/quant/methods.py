"""The registry of quantization methods: name -> handler(qmodel, float_model, calib, config, progress) -> dict.

lisq.quant.api registers minmax, mse, adaround, brecq and qat; `register_method` adds one from any
module (QuantConfig, the CLI and the bench all read this one dict).
"""

from __future__ import annotations

from collections.abc import Callable

METHOD_HANDLERS: dict[str, Callable[..., dict]] = {}


def register_method(name: str):
    """Decorator: register `handler(qmodel, float_model, calib, config, progress) -> dict` as method `name`."""

    def wrap(fn):
        if name in METHOD_HANDLERS and METHOD_HANDLERS[name] is not fn:
            raise ValueError(f"quantization method {name!r} is registered twice")
        METHOD_HANDLERS[name] = fn
        return fn

    return wrap


def method_names() -> list[str]:
    """Every registered method (the built-ins first, in registration order)."""
    import lisq.quant.api  # noqa: F401  (registers the built-in methods)

    return list(METHOD_HANDLERS)
