import torch

from lisq.quant import QuantConfig, prepare_model
from lisq.quant.calib import calibrate, collect_inputs, init_weight_quantizer
from lisq.quant.quantizer import FakeQuantizer


def test_mse_range_beats_minmax_on_heavy_tails():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 64, generator=g)
    w[:, 0] = 12.0  # one outlier per channel
    errors = {}
    for method in ("minmax", "mse"):
        q = FakeQuantizer(3, True, 0, 8)
        init_weight_quantizer(q, w, method)
        errors[method] = float((q(w) - w).pow(2).sum())
    assert errors["mse"] < errors["minmax"]


def test_minmax_covers_the_observed_range_without_clipping():
    w = torch.randn(4, 10, generator=torch.Generator().manual_seed(1))
    q = FakeQuantizer(4, False, 0, 4)
    init_weight_quantizer(q, w, "minmax")
    step = q.scale.view(-1, 1)
    assert ((q(w) - w).abs() <= step / 2 + 1e-6).all()


def test_collect_inputs_from_loader_pairs_and_limit(calib):
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(calib, torch.zeros(len(calib))), batch_size=10)
    out = collect_inputs(loader, num_samples=25)
    assert out.shape == (25, 1, 16, 16)
    torch.testing.assert_close(out, calib[:25])


def test_calibrated_activation_ranges_follow_the_data(tiny_net, calib):
    qmodel, _ = prepare_model(tiny_net, QuantConfig(method="minmax"), calib[:1])
    calibrate(qmodel, calib, "minmax")
    after_relu = qmodel.body[1].a[0].input_quantizer
    assert float(after_relu.zero_point) == 0  # non-negative input: unsigned grid, every level used
    after_gelu = qmodel.fc.input_quantizer
    assert float(after_gelu.zero_point) > 0  # GELU dips below zero: the zero point moves up
    out = qmodel(calib)
    ref = tiny_net(calib)
    assert float((out - ref).pow(2).mean() / ref.pow(2).mean()) < 0.05



def _gelu_mlp() -> torch.nn.Module:
    """Linear -> GELU -> Linear with unit-variance pre-activations (what BN gives a GELU in a real net)."""
    torch.manual_seed(0)
    first = torch.nn.Linear(16, 64)
    with torch.no_grad():
        first.weight.copy_(torch.randn(64, 16) / 4)
        first.bias.zero_()
    return torch.nn.Sequential(first, torch.nn.GELU(), torch.nn.Linear(64, 8)).eval()


def test_mse_keeps_the_negative_lobe_of_gelu_on_a_4_bit_grid():
    """After GELU half the values lie in [-0.17, 0]: a 4-bit grid must keep a level below zero.

    Shrinking min and max by one factor clipped that lobe and rounded the zero point to 0, so every
    negative input became 0 (the external GELU/concat model fell to 32 % at W4A4)."""
    model, x = _gelu_mlp(), torch.randn(512, 16, generator=torch.Generator().manual_seed(0))
    qmodel, _ = prepare_model(model, QuantConfig(method="mse", first_last_bits=None), x[:1], warn=False)
    calibrate(qmodel, x, "mse")
    q = qmodel[2].input_quantizer
    assert float(q.zero_point) >= 1  # a level below zero
    with torch.no_grad():
        h = model[1](model[0](x))
        neg = h[h < -0.1]
        assert float(q(neg).mean()) < -0.05  # the lobe survives on average instead of collapsing to 0
