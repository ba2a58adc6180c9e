import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from quant_fixtures import make_tiny_net

from lisq.quant import QuantConfig, quantize
from lisq.quant.calib import init_act_quantizers, init_weight_quantizers
from lisq.quant.prepare import prepare_model
from lisq.quant.qat import train_qat

SRC = Path(__file__).resolve().parents[2] / "src"


def test_qat_lowers_the_distillation_loss(tiny_net, calib):
    cfg = QuantConfig(method="qat", w_bits=3, a_bits=3, epochs=6, qat_batch_size=16, qat_lr=1e-3)
    qmodel, _ = prepare_model(tiny_net, cfg, calib[:1])
    init_weight_quantizers(qmodel, "mse")
    init_act_quantizers(qmodel, calib, "mse")
    scales_before = [q.scale.clone() for q in (qmodel.fc.input_quantizer, qmodel.stem[0].weight_quantizer)]
    history = train_qat(qmodel, tiny_net, calib, cfg)
    assert history[-1] < history[0]
    scales_after = [qmodel.fc.input_quantizer.scale, qmodel.stem[0].weight_quantizer.scale]
    assert any(not torch.equal(a, b) for a, b in zip(scales_before, scales_after, strict=True))  # steps are learned
    assert not any(p.requires_grad for p in (qmodel.fc.input_quantizer.scale,))


def test_qat_entry_point_is_deterministic(tiny_net, calib):
    cfg = QuantConfig(method="qat", epochs=2, qat_batch_size=32)
    a, b = quantize(tiny_net, calib, cfg), quantize(tiny_net, calib, cfg)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


DDP_SCRIPT = """
import sys, torch, torch.distributed as dist
sys.path.insert(0, {tests!r})
from quant_fixtures import make_tiny_net
from lisq.quant import QuantConfig, quantize
dist.init_process_group("gloo")
torch.set_num_threads(1)
model = make_tiny_net()
calib = torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(1))
qmodel = quantize(model, calib, QuantConfig(method="qat", epochs=2, qat_batch_size=8))
flat = torch.cat([v.flatten().float() for v in qmodel.state_dict().values()])
torch.save(flat, {out!r} + f"/rank{{dist.get_rank()}}.pt")
dist.destroy_process_group()
"""


@pytest.mark.dist
def test_qat_under_torchrun_two_ranks_stays_in_sync(tmp_path):
    script = tmp_path / "qat_ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rank0, rank1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert torch.equal(rank0, rank1)  # DDP averaged gradients: both ranks hold the same model
    calib = torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    single = quantize(make_tiny_net(), calib, QuantConfig(method="qat", epochs=2, qat_batch_size=8))
    flat = torch.cat([v.flatten().float() for v in single.state_dict().values()])
    assert not torch.equal(flat, rank0)  # the two ranks trained on disjoint shards, not the same data
