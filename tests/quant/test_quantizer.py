"""The fake quantizer against PyTorch's reference kernels, LSQ gradients, QDrop and the export path."""

import pytest
import torch

from lisq.errors import LisqError
from lisq.quant.quantizer import FakeQuantizer, check_bits, fake_quantize, quant_range

BITS = range(2, 9)


def _random_qparams(bits, symmetric, shape, generator):
    qmin, qmax = quant_range(bits, symmetric)
    scale = torch.rand(shape, generator=generator) * 0.2 + 0.01
    if symmetric:
        zero_point = torch.zeros(shape, dtype=torch.int32)
    else:
        zero_point = torch.randint(qmin, qmax + 1, shape, generator=generator, dtype=torch.int32)
    return scale, zero_point, qmin, qmax


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", BITS)
def test_per_tensor_matches_torch(bits, symmetric):
    g = torch.Generator().manual_seed(bits * 2 + symmetric)
    x = torch.randn(4, 3, 8, 8, generator=g) * 2
    scale, zp, qmin, qmax = _random_qparams(bits, symmetric, (), g)
    ref = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), qmin, qmax)
    q = FakeQuantizer(bits, symmetric)
    q.set_qparams(scale, zp.float())
    torch.testing.assert_close(q(x), ref, rtol=0, atol=0)
    assert len(q(x).unique()) <= 2**bits


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", BITS)
def test_inference_and_gradient_paths_match_torch_at_ties_and_bounds(bits, symmetric):
    """Without grad lisq computes the fixed-step quantizer in place, with grad it uses the fused kernel:
    both give torch's bits, also where x / s is a tie (k + 0.5) and far outside the range."""
    g = torch.Generator().manual_seed(300 + bits * 2 + symmetric)
    for axis, n in ((None, 1), (1, 5)):
        scale, zp, qmin, qmax = _random_qparams(bits, symmetric, (n,) if axis is not None else (), g)
        shape = (1, -1, 1, 1) if axis is not None else ()
        s = scale.reshape(shape)
        ties = (torch.randint(-300, 300, (2, 5, 6, 6), generator=g) + 0.5) * s
        x = torch.cat([ties, torch.randn(2, 5, 6, 6, generator=g) * 40 * s])
        if axis is None:
            ref = torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), qmin, qmax)
        else:
            ref = torch.fake_quantize_per_channel_affine(x, scale, zp.int(), axis, qmin, qmax)
        q = FakeQuantizer(bits, symmetric, axis, n)
        q.set_qparams(scale, zp.float())
        with torch.no_grad():
            fast = q(x)
        slow = q(x.clone().requires_grad_(True))
        assert torch.equal(fast, ref) and torch.equal(slow, ref)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", BITS)
def test_per_channel_matches_torch(bits, symmetric):
    g = torch.Generator().manual_seed(100 + bits * 2 + symmetric)
    w = torch.randn(6, 3, 3, 3, generator=g)
    scale, zp, qmin, qmax = _random_qparams(bits, symmetric, (6,), g)
    ref = torch.fake_quantize_per_channel_affine(w, scale, zp, 0, qmin, qmax)
    q = FakeQuantizer(bits, symmetric, channel_axis=0, num_channels=6)
    q.set_qparams(scale, zp.float())
    torch.testing.assert_close(q(w), ref, rtol=0, atol=0)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_lsq_gradients_match_torch_learnable(bits, symmetric):
    g = torch.Generator().manual_seed(7 * bits + symmetric)
    x = torch.randn(2, 4, 5, 5, generator=g)
    scale, zp, qmin, qmax = _random_qparams(bits, symmetric, (1,), g)
    grad_out = torch.randn(x.shape, generator=g)
    factor = 1.0 / (x.numel() * qmax) ** 0.5

    x_ref = x.clone().requires_grad_(True)
    s_ref = scale.clone().requires_grad_(True)
    z_ref = zp.float().clone().requires_grad_(True)
    out_ref = torch._fake_quantize_learnable_per_tensor_affine(x_ref, s_ref, z_ref, qmin, qmax, factor)
    out_ref.backward(grad_out)

    q = FakeQuantizer(bits, symmetric)
    q.set_qparams(scale, zp.float())
    q.scale.requires_grad_(True)
    x_own = x.clone().requires_grad_(True)
    out = q(x_own)
    out.backward(grad_out)

    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(x_own.grad, x_ref.grad)
    torch.testing.assert_close(q.scale.grad.reshape(()), s_ref.grad.reshape(()), rtol=1e-4, atol=1e-6)
    # zero points are not learned in lisq (no gradient is computed for them), see FakeQuantizer


def test_lsq_per_channel_gradients_match_torch_learnable():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 3, 2, 2, generator=g)
    scale, zp, qmin, qmax = _random_qparams(4, True, (5,), g)
    grad_out = torch.randn(w.shape, generator=g)
    factor = 1.0 / ((w.numel() // 5) * qmax) ** 0.5
    w_ref, s_ref = w.clone().requires_grad_(True), scale.clone().requires_grad_(True)
    z_ref = zp.float().requires_grad_(True)
    torch._fake_quantize_learnable_per_channel_affine(w_ref, s_ref, z_ref, 0, qmin, qmax, factor).backward(grad_out)
    q = FakeQuantizer(4, True, 0, 5)
    q.set_qparams(scale, zp.float())
    q.scale.requires_grad_(True)
    w_own = w.clone().requires_grad_(True)
    q(w_own).backward(grad_out)
    torch.testing.assert_close(w_own.grad, w_ref.grad)
    torch.testing.assert_close(q.scale.grad, s_ref.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("axis", [None, 1])
def test_learned_step_equals_the_composed_definition(axis, symmetric):
    """The fused LSQ kernel computes fake_quantize with a straight-through round and LSQ's scaled step
    gradient, written out op by op: the same forward bits, the same gradients up to summation order."""
    from lisq.quant.quantizer import broadcast_shape, scale_grad

    g = torch.Generator().manual_seed(11 + symmetric)
    x = torch.randn(4, 6, 9, 9, generator=g) * 2
    n = 6 if axis is not None else 1
    scale, zp, qmin, qmax = _random_qparams(4, symmetric, (n,) if axis is not None else (), g)
    grad_out = torch.randn(x.shape, generator=g)
    q = FakeQuantizer(4, symmetric, axis, n)
    q.set_qparams(scale, zp.float())
    q.scale.requires_grad_(True)
    x_own = x.clone().requires_grad_(True)
    out = q(x_own)
    out.backward(grad_out)

    s_ref = scale.clone().float().requires_grad_(True)
    shape = broadcast_shape(x, axis)
    factor = 1.0 / ((x.numel() // n) * qmax) ** 0.5
    x_ref = x.clone().requires_grad_(True)
    ref = fake_quantize(x_ref, scale_grad(s_ref, factor).reshape(shape), zp.float().reshape(shape), qmin, qmax)
    ref.backward(grad_out)
    assert torch.equal(out, ref)
    torch.testing.assert_close(x_own.grad, x_ref.grad)
    torch.testing.assert_close(q.scale.grad.reshape(s_ref.shape), s_ref.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bits", [0, 1, 9, 16, 4.0, True])
def test_bits_outside_range_rejected(bits):
    with pytest.raises(LisqError, match="2 to 8"):
        check_bits(bits)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_export_path_equals_simulation(bits, symmetric):
    """The 8-bit-container form used for ONNX (clip, then Q/DQ) computes the b-bit simulation exactly."""
    g = torch.Generator().manual_seed(bits)
    x = torch.randn(3, 4, 6, 6, generator=g) * 3
    for axis, n in ((None, 1), (1, 4)):
        q = FakeQuantizer(bits, symmetric, axis, n)
        scale, zp, _, _ = _random_qparams(bits, symmetric, (n,) if axis is not None else (), g)
        q.set_qparams(scale, zp.float())
        sim = q(x)
        q.export_mode = True
        torch.testing.assert_close(q(x), sim, rtol=0, atol=1e-6)


def test_qdrop_keeps_float_values_in_training_only():
    q = FakeQuantizer(2, False)
    q.set_qparams(torch.tensor(0.5), torch.tensor(1.0))
    x = torch.randn(20000, generator=torch.Generator().manual_seed(0))
    q.drop_prob = 0.5
    q.train()
    kept = (q(x) == x).float().mean().item()
    assert 0.45 < kept < 0.6  # half dropped to float, plus the few values already on the grid
    q.eval()
    assert (q(x) == x).float().mean().item() < 0.05


def test_fake_quantize_unsigned_after_relu():
    """An asymmetric quantizer on non-negative data puts every level at or above zero."""
    from lisq.quant.quantizer import qparams_from_range

    scale, zp = qparams_from_range(torch.tensor(0.0), torch.tensor(3.0), 0, 15, symmetric=False)
    assert float(zp) == 0
    x = torch.linspace(0, 3, 100)
    out = fake_quantize(x, scale, zp, 0, 15)
    assert out.min() >= 0 and len(out.unique()) == 16
