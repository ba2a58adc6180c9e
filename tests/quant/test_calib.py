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
