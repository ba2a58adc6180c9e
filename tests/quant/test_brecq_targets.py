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
