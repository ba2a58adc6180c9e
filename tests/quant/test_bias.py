import torch
from test_calib import _gelu_mlp

from lisq.quant import QuantConfig, quantize


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
