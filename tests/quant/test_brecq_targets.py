import torch

import lisq.quant.brecq as brecq
from lisq.quant import QuantConfig, prepare_model, set_quant_state
from lisq.quant.api import _init_ranges


def test_every_block_target_is_the_float_models_output(tiny_net, calib, monkeypatch):
    """Learned rounding is baked into the weights only at the very end: while later blocks are
    reconstructed, their targets must still come from the float model, not the quantized one."""
    config = QuantConfig(method="brecq", w_bits=2, a_bits=4, iters=3, batch_size=8)
    qmodel, _ = prepare_model(tiny_net, config, calib[:1])
    _init_ranges(qmodel, calib, config)
    reference, _ = prepare_model(tiny_net, config, calib[:1])
    set_quant_state(reference, weights=False, activations=False)
    names = {id(m): n for n, m in qmodel.named_modules()}
    original = brecq.capture
    errors = {}

    def checked_capture(model, block, data, batch_size, output):
        got = original(model, block, data, batch_size, output)
        if output:
            want = original(reference, reference.get_submodule(names[id(block)]), data, batch_size, True)
            errors[names[id(block)]] = float((got - want).abs().max())
        return got

    monkeypatch.setattr(brecq, "capture", checked_capture)
    blocks = brecq.find_blocks(qmodel, calib[:1])
    brecq.reconstruct(qmodel, calib, config, blocks, True, 0.5)
    assert set(errors) == set(blocks)
    assert max(errors.values()) < 1e-4
    layer = qmodel.body[0].conv1  # baked at the end: weights on their grid
    ints = layer.weight / layer.weight_quantizer.scale.view(-1, 1, 1, 1)
    torch.testing.assert_close(ints, ints.round(), atol=1e-3, rtol=0)
