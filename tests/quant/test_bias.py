import torch
from test_calib import _gelu_mlp

from lisq.quant import QuantConfig, quant_layers, quantize


def test_bias_correction_removes_the_mean_output_error():
    model, x = _gelu_mlp(), torch.randn(512, 16, generator=torch.Generator().manual_seed(0))
    config = QuantConfig(method="mse", w_bits=3, a_bits=3, first_last_bits=None)
    with torch.no_grad():
        ref = model(x)
        plain = quantize(model, x, config)(x)
        corrected_model = quantize(model, x, config.replace(bias_correction=True))
        corrected = corrected_model(x)
    mean_err = lambda out: float((out - ref).mean(0).abs().mean())  # noqa: E731
    assert mean_err(corrected) < 0.25 * mean_err(plain)
    assert float((corrected - ref).pow(2).mean()) < float((plain - ref).pow(2).mean())
    assert set(corrected_model.lisq_info["bias_correction"]) == {"0", "2"}


def test_quantized_biases_lie_on_their_int32_grid(tiny_net, calib):
    """bias = k * s_x * s_w with integer k per channel: what ONNX Runtime and integer backends store."""
    qmodel = quantize(tiny_net, calib, QuantConfig(method="mse", w_bits=4, a_bits=4, bake_bias=True))
    loose = quantize(tiny_net, calib, QuantConfig(method="mse", w_bits=4, a_bits=4))  # off by default: figures unchanged
    assert any(not torch.allclose(a.bias, b.bias) for (_, a), (_, b) in zip(quant_layers(qmodel), quant_layers(loose), strict=True)
               if a.bias is not None)
    checked = 0
    for _, layer in quant_layers(qmodel):
        if layer.bias is None:
            continue
        unit = (layer.input_quantizer.scale * layer.weight_quantizer.scale).reshape(-1)
        k = layer.bias / unit
        assert torch.allclose(k, k.round(), atol=1e-3)
        checked += 1
    assert checked >= 3
