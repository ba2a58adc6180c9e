"""Export quantized models: ONNX with QuantizeLinear/DequantizeLinear."""

from lisq.export.onnx import export_onnx, onnx_logits

__all__ = ["export_onnx", "onnx_logits"]
