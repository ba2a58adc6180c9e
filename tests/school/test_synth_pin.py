"""The synthesis loop reproduces, bit for bit, a tiny synthesis of every generator pinned before the
datasets redesign (fixture written by tests/school/make_synth_pin.py at commit 99de4d1 + the fixture).

Byte equality is what lisq promises on the same machine and thread count; on another CPU the float
reductions may round differently, so there the images must agree within one grey level on >= 99.5 %
of pixels and the manifests in everything but the float loss values (soft labels within one unit of
their 5th decimal)."""

import json

import numpy as np
import pytest
from make_synth_pin import FIXTURE, GENERATORS, cpu_fingerprint, synthesize_all


@pytest.fixture(scope="module")
def pinned():
    data = np.load(FIXTURE)
    return json.loads(str(data["meta"])), {g: data[f"{g}_pixels"] for g in GENERATORS}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, real_fmnist_module):
    import torch

    torch.set_num_threads(1)
    return synthesize_all(tmp_path_factory.mktemp("pin"))


@pytest.fixture(scope="module")
def real_fmnist_module():
    from pathlib import Path

    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.fail("real Fashion-MNIST is missing: `make test` installs dataset-fashion-mnist")


@pytest.mark.parametrize("generator", GENERATORS)
def test_synthesis_matches_the_pinned_bytes(generator, pinned, fresh):
    meta, pixels = pinned
    now_px, now_rows = fresh[generator]
    then_rows = meta["rows"][generator]
    same_cpu = meta["cpu"] == cpu_fingerprint()
    # on another CPU a zeroq label (the teacher's argmax on a noise-like image) may flip, and its file with it
    drop = {"loss"} if same_cpu or generator != "zeroq" else {"loss", "label", "file"}
    if not same_cpu:  # soft labels are floats rounded to 5 decimals: the last digit may round the other way
        drop |= {"soft_label"}
        for now, then in zip(now_rows, then_rows, strict=True):
            assert ("soft_label" in now) == ("soft_label" in then)
            if "soft_label" in then:
                assert np.allclose(now["soft_label"], then["soft_label"], rtol=0, atol=2e-5)
    strip = [{k: v for k, v in r.items() if k not in drop} for r in then_rows]
    assert [{k: v for k, v in r.items() if k not in drop} for r in now_rows] == strip
    if same_cpu:
        assert np.array_equal(now_px, pixels[generator])
        assert [r.get("loss") for r in now_rows] == [r.get("loss") for r in then_rows]
    else:
        diff = np.abs(now_px.astype(int) - pixels[generator].astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.995
