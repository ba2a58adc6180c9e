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
    brecq.reconstruct(qmodel, calib, config, blocks, True, 0.5, chain=False)
    assert set(errors) == set(blocks)
    assert max(errors.values()) < 1e-4
    layer = qmodel.body[0].conv1  # baked at the end: weights on their grid
    ints = layer.weight / layer.weight_quantizer.scale.view(-1, 1, 1, 1)
    torch.testing.assert_close(ints, ints.round(), atol=1e-3, rtol=0)


class _Chain(torch.nn.Module):
    """Three residual blocks: a plain chain, then an in-place change between the second and third."""

    def __init__(self):
        super().__init__()
        from quant_fixtures import TinyResidual

        self.stem = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.a, self.b, self.c = TinyResidual(), TinyResidual(), TinyResidual()
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        x = self.b(self.a(self.stem(x)))
        x.mul_(0.5)  # same object, new version: c's input is not b's output
        return self.fc(self.c(x).mean((2, 3)))


def test_chain_links_follow_identity_and_in_place_changes(calib):
    config = QuantConfig(method="brecq", w_bits=4, a_bits=4)
    qmodel, _ = prepare_model(_Chain().eval(), config, calib[:1])
    blocks = brecq.find_blocks(qmodel, calib[:1])
    assert blocks == ["stem", "a", "b", "c", "fc"]
    assert brecq.chained_blocks(qmodel, blocks, calib[:1]) == [False, True, True, False, False]


def test_chained_reconstruction_gives_the_same_model_as_prefix_capture(tiny_net, calib):
    """Carrying block outputs forward is a shortcut, not an approximation: the same bytes."""
    from lisq.models.registry import create_model

    for model, data in ((tiny_net, calib), (create_model("resnet20", pretrained=True), torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(3)))):
        config = QuantConfig(method="brecq", w_bits=2, a_bits=4, iters=4, batch_size=8)
        states, links = [], None
        for chain in (True, False):
            qmodel, _ = prepare_model(model.eval(), config, data[:1])
            _init_ranges(qmodel, data, config)
            blocks = brecq.find_blocks(qmodel, data[:1])
            links = links or brecq.chained_blocks(qmodel, blocks, data[:1])
            torch.manual_seed(0)
            brecq.reconstruct(qmodel, data, config, blocks, True, 0.5, chain=chain)
            states.append(qmodel.state_dict())
        assert any(links)
        for key, value in states[0].items():
            assert torch.equal(value, states[1][key]), key


def test_a_step_in_pieces_has_the_whole_batchs_gradients(tiny_net, calib):
    """On CPU a step's batch runs in cache-sized pieces; rounding and LSQ-step gradients must not change."""
    from lisq.quant.adaround import attach_rounding, beta_schedule

    config = QuantConfig(method="brecq", w_bits=2, a_bits=4, batch_size=16)
    qmodel, _ = prepare_model(tiny_net, config, calib[:1])
    _init_ranges(qmodel, calib, config)
    for p in qmodel.parameters():
        p.requires_grad_(False)
    block = qmodel.body[0]
    inputs = brecq.capture(qmodel, block, calib[:16], 16, output=False)
    set_quant_state(qmodel, weights=False, activations=False)
    target = brecq.capture(qmodel, block, calib[:16], 16, output=True)
    set_quant_state(qmodel, weights=True, activations=True)
    layers = [m for m in block.modules() if isinstance(m, brecq.QUANT_LAYERS)]
    roundings = [attach_rounding(layer) for layer in layers]
    params = [r.alpha for r in roundings] + [layer.input_quantizer.scale for layer in layers]
    for layer in layers:
        layer.input_quantizer.scale.requires_grad_(True)
        layer.input_quantizer.step_batch = 16
    beta = beta_schedule(50, 100, 0.2, 20, 2)
    grads, losses = [], []
    for piece in (16, 5, 1):
        for p in params:
            p.grad = None
        losses.append(brecq.step_gradients(block, inputs, target, piece,
                                           lambda: 0.01 * sum(r.regularizer(beta) for r in roundings), "off", None))
        grads.append([p.grad.clone() for p in params])
    for other, loss in zip(grads[1:], losses[1:], strict=True):
        assert abs(loss - losses[0]) < 1e-5 * abs(losses[0])
        for a, b in zip(grads[0], other, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    assert brecq.step_piece(block, inputs, 16) == 16  # tiny activations: one piece
    wide = torch.nn.Sequential(torch.nn.Conv2d(16, 96, 1), torch.nn.ReLU())
    assert brecq.step_piece(wide, (torch.zeros(16, 16, 130, 130),), 16) == brecq.CPU_STEP_ELEMENTS // (96 * 130 * 130) == 1
