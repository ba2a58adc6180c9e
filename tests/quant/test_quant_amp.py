"""Mixed precision (bf16 autocast on CPU) and channels_last in reconstruction and QAT."""

import pytest
import torch
from quant_fixtures import make_tiny_net

from lisq.errors import LisqError
from lisq.quant import brecq, quantize
from lisq.quant.config import QuantConfig
from lisq.quant.quantizer import FakeQuantizer, fake_quantize

METHODS = {"brecq": dict(iters=30, batch_size=16), "qat": dict(epochs=2, qat_batch_size=16)}


@pytest.mark.parametrize("symmetric", [True, False])
def test_fake_quant_of_bf16_input_runs_in_float32_on_the_grid(symmetric):
    q = FakeQuantizer(8, symmetric)
    x = torch.randn(4, 8, 5, 5, generator=torch.Generator().manual_seed(0)) * 3
    q.set_range(x.min(), x.max())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = q(x.bfloat16())
    assert out.dtype == torch.float32
    want = fake_quantize(x.bfloat16().float(), q.scale, q.zero_point, q.qmin, q.qmax)
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    steps = out / q.scale + q.zero_point
    torch.testing.assert_close(steps, steps.round(), rtol=0, atol=1e-4)  # every value on the 8-bit grid


def _finite_and_agreeing(config: QuantConfig, reference: QuantConfig, calib: torch.Tensor) -> None:
    test = torch.randn(128, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    fp = make_tiny_net()(test)
    got, want = quantize(make_tiny_net(), calib, config)(test), quantize(make_tiny_net(), calib, reference)(test)
    assert torch.isfinite(got).all()
    assert (got.argmax(1) == want.argmax(1)).float().mean() >= 0.9
    err, ref_err = (got - fp).pow(2).mean(), (want - fp).pow(2).mean()
    assert err <= 1.5 * ref_err + 1e-3, (float(err), float(ref_err))


@pytest.mark.parametrize("method", list(METHODS))
def test_bf16_and_channels_last_give_a_comparable_model(method, calib):
    fp32 = QuantConfig(method=method, **METHODS[method])
    _finite_and_agreeing(fp32.replace(amp="bf16", channels_last=True), fp32, calib)


def test_channels_last_alone_and_returned_weights_are_contiguous(calib):
    config = QuantConfig(method="brecq", channels_last=True, **METHODS["brecq"])
    qmodel = quantize(make_tiny_net(), calib, config)
    assert all(t.is_contiguous() for t in qmodel.state_dict().values())
    _finite_and_agreeing(config, config.replace(channels_last=False), calib)


def test_reconstruction_compute_runs_in_bf16(calib, monkeypatch):
    original, dtypes = brecq.capture, []

    def recording(model, block, data, batch_size, output):
        got = original(model, block, data, batch_size, output)
        if output:
            dtypes.append(got.dtype)
        return got

    monkeypatch.setattr(brecq, "capture", recording)
    quantize(make_tiny_net(), calib, QuantConfig(method="brecq", amp="bf16", iters=2, batch_size=16))
    assert dtypes and set(dtypes) == {torch.bfloat16}


def test_fp16_on_cpu_is_refused(calib):
    with pytest.raises(LisqError, match="use --amp bf16 on CPU"):
        quantize(make_tiny_net(), calib, QuantConfig(amp="fp16"))


def test_amp_setting_validates_and_round_trips():
    with pytest.raises(LisqError, match="amp must be one of"):
        QuantConfig(amp="int8")
    assert QuantConfig.from_dict({"amp": False}).amp == "off"  # YAML 1.1 reads an unquoted `off` as False
    config = QuantConfig(amp="bf16", channels_last=True)
    assert QuantConfig.from_dict(config.to_dict()) == config
