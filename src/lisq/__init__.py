"""lisq: data-free quantization by multi-teacher knowledge inversion ("Learning in School")."""

from lisq.errors import LisqError

__version__ = "0.1.0"

__all__ = ["LisqError", "__version__"]
