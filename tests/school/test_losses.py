import pytest
import torch
import torch.nn.functional as F
from tiny_models import NoBNNet, tiny_a

from lisq.errors import LisqError
from lisq.school.hooks import BNMomentsAccumulator, BNStatsRecorder
from lisq.school.losses import bn_term, ce_term, l2_term, tv_term


def test_bn_term_by_hand():
    stats = [
        (torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]), torch.tensor([4.0, 1.0])),  # 2 + 3
        (torch.tensor([0.0]), torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([2.0])),  # 0 + 0
    ]
    assert bn_term(stats).item() == pytest.approx((2.0 + 3.0 + 0.0) / 2)


def test_recorder_captures_bn_input_statistics():
    model = tiny_a()
    x = torch.randn(5, 1, 8, 8)
    rec = BNStatsRecorder(model)
    with rec:
        model(x)
    assert len(rec.stats) == 2
    conv_out = model.features[0](x)
    mean, var, rm, rv = rec.stats[0]
    assert torch.allclose(mean, conv_out.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(var, conv_out.var((0, 2, 3), unbiased=False), atol=1e-5)
    assert rm is model.features[1].running_mean and rv is model.features[1].running_var
    model(x)  # outside the context nothing is recorded
    assert len(rec.stats) == 2
    rec.remove()


def test_moments_accumulator_equals_whole_set_statistics():
    model = tiny_a()
    x = torch.randn(12, 1, 8, 8)
    acc = BNMomentsAccumulator(model)
    with torch.no_grad():
        model(x[:5])
        model(x[5:])
        conv_out = model.features[0](x).double()
    mean, var, _, _ = acc.moments()[0]
    assert torch.allclose(mean, conv_out.mean((0, 2, 3)), atol=1e-9)
    assert torch.allclose(var, conv_out.var((0, 2, 3), unbiased=False), atol=1e-9)


def test_no_bn_teacher_is_refused_in_one_line():
    with pytest.raises(LisqError, match="no BatchNorm layers") as info:
        BNStatsRecorder(NoBNNet(), "plain")
    assert "\n" not in str(info.value)


def test_ce_term_hard_and_soft_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    assert ce_term(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item())
    soft = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    ls = torch.log_softmax(logits, 1)
    hand = -(0.5 * ls[0, 0] + 0.5 * ls[0, 1] + ls[1, 0]) / 2
    assert ce_term(logits, soft).item() == pytest.approx(hand.item())


def test_tv_and_l2_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [3.0, 5.0]]]])
    # vertical diffs: 3, 4 -> mean 3.5; horizontal: 1, 2 -> mean 1.5
    assert tv_term(x, "l1").item() == pytest.approx(5.0)
    assert tv_term(x, "l2").item() == pytest.approx((9 + 16) / 2 + (1 + 4) / 2)
    two = torch.cat([x, 2 * x])
    assert l2_term(two).item() == pytest.approx((35 + 140) / 2)


def test_recorder_bn_loss_equals_bn_term():
    model = tiny_a()
    rec = BNStatsRecorder(model)
    x = torch.randn(6, 1, 10, 10, requires_grad=True)
    with rec:
        model(x)
    fast = rec.bn_loss()
    assert fast.item() == pytest.approx(bn_term(rec.stats).item(), rel=1e-5)
    g_fast = torch.autograd.grad(fast, x, retain_graph=True)[0]
    g_ref = torch.autograd.grad(bn_term(rec.stats), x)[0]
    assert torch.allclose(g_fast, g_ref, atol=1e-6)


def test_batch_moments_gradient_matches_autograd():
    from lisq.school.hooks import BatchMoments

    x = torch.randn(3, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BatchMoments.apply, (x,))
    x2 = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(BatchMoments.apply, (x2,))


def test_fused_bn_moments_same_output_and_gradients_as_plain_path():
    model = tiny_a().double()
    x = torch.randn(4, 1, 9, 9, dtype=torch.float64, requires_grad=True)
    results = []
    for fused in (True, False):
        rec = BNStatsRecorder(model, fused=fused)
        with rec:
            out = model(x)
        loss = out.pow(2).sum() + rec.bn_loss()
        results.append((out.detach(), torch.autograd.grad(loss, x)[0]))
        rec.remove()
    assert torch.allclose(results[0][0], model(x).detach())
    assert torch.allclose(results[0][0], results[1][0]) and torch.allclose(results[0][1], results[1][1])


def test_fused_bn_moments_gradcheck():
    from lisq.school.hooks import FusedBatchNormMoments

    x = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    w, b = torch.rand(4, dtype=torch.float64) + 0.5, torch.randn(4, dtype=torch.float64)
    rm, rv = torch.randn(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64) + 0.5
    assert torch.autograd.gradcheck(lambda t: FusedBatchNormMoments.apply(t, w, b, rm, rv, 1e-5), (x,))
