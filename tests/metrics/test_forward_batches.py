import torch
import torch.nn as nn

from lisq.metrics.accuracy import CPU_FORWARD_PIXELS, batched_forward, evaluate, forward_batch_size


def test_forward_batch_size_follows_the_pixel_budget_on_cpu():
    assert forward_batch_size(torch.empty(500, 3, 32, 32)) == CPU_FORWARD_PIXELS // 1024 == 64
    assert forward_batch_size(torch.empty(500, 3, 260, 260)) == 1
    assert forward_batch_size(torch.empty(10, 3, 32, 32)) == 10  # never more than there is
    assert forward_batch_size(torch.empty(500, 3, 32, 32), requested=16) == 16
    assert forward_batch_size(torch.empty(500, 10)) == 500  # not images: as given


def test_batched_forward_is_the_model_on_the_whole_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()
    model[1].running_mean.normal_()
    x = torch.randn(150, 3, 32, 32)
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(len(a[0])))
    with torch.no_grad():
        whole = model(x)
        calls.clear()
        pieces = batched_forward(model, x)
    assert calls == [64, 64, 22]
    torch.testing.assert_close(pieces, whole)
    labels = whole.argmax(1)
    assert evaluate(model, [(x, labels)])["top1"] == 1.0
