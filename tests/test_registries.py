"""Extension points used from outside the package: a quantization method, a sampler, an objective term and a
dataset registered by this test module run through the public API and the CLI."""

import json

import numpy as np
import pytest
import torch

from lisq.cli import main


def test_register_method_from_outside(tmp_path, capsys):
    from lisq.quant import QuantConfig, method_names, quantize, register_method
    from lisq.quant.calib import calibrate

    seen = []

    @register_method("test_minmax_twice")
    def _handler(qmodel, float_model, calib, config, progress):
        seen.append(len(calib))
        calibrate(qmodel, calib, "minmax")
        return {"outside": True}

    assert "test_minmax_twice" in method_names()
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 10))
    q = quantize(model, torch.randn(8, 1, 28, 28), QuantConfig(method="test_minmax_twice", w_bits=8, a_bits=8))
    assert seen == [8] and q.lisq_info == {"outside": True}
    code = main(["quantize", "--model", "resnet8", "--data", "gaussian", "--method", "test_minmax_twice", "--num-samples", "4",
                 "--out", str(tmp_path / "q"), "--quiet"])
    assert code == 0 and seen == [8, 4]
    assert json.loads((tmp_path / "q" / "config.json").read_text())["quant"]["method"] == "test_minmax_twice"
    capsys.readouterr()


def test_register_sampler_and_term_from_outside(tmp_path):
    from lisq.school import SynthConfig, Term, register_sampler, register_term, synthesize
    from lisq.school.objective import TERMS

    @register_sampler("test_last")
    def _last(sampler, school, rng):
        return [len(school.teachers) - 1]

    calls = []

    def mean_brightness(x, cfg):
        calls.append(x.shape)
        return x.mean().abs()

    register_term(Term("brightness", "image", mean_brightness, 0.0, help="test term"))
    try:
        out = tmp_path / "d"
        cfg = SynthConfig(generator="lis", num_images=2, batch_size=2, iters=2, sampler="test_last")
        synthesize(out, cfg, teachers=["resnet8", "vgg7"], quiet=True)
        rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
        assert rows[0]["teachers"] == ["vgg7"] and rows[0]["loss"]["brightness"] is None and calls == []
        on = tmp_path / "on"
        code = main(["synth", "--teachers", "resnet8,vgg7", "--sampler", "test_last", "--num-images", "2", "--batch-size", "2",
                     "--iters", "2", "--a-brightness", "0.5", "--out", str(on), "--quiet"])
        rows = [json.loads(line) for line in (on / "manifest.jsonl").read_text().splitlines()]
        assert code == 0 and len(calls) == 2 and rows[0]["loss"]["brightness"] > 0
        assert "term_weights:\n    brightness: 0.5" in (on / "config.yaml").read_text()
        with pytest.raises(Exception, match="unknown objective term 'nope'"):
            SynthConfig(term_weights={"nope": 1.0}).resolved()
    finally:
        TERMS.pop("brightness")


def test_register_dataset_from_outside(tmp_path, capsys):
    from lisq.data import DatasetSpec, InputSpec, TensorSplit, get_dataset, register_dataset

    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (20, 1, 28, 28), dtype=np.uint8))
    labels = torch.arange(20) % 10

    def load(split):
        return TensorSplit("test_digits", split, images, labels)

    register_dataset(DatasetSpec("test_digits", tuple(str(i) for i in range(10)), InputSpec(dataset="test_digits"),
                                 ("train", "test"), load))
    assert get_dataset("test_digits").split("test").images.shape == (20, 1, 28, 28)
    code = main(["eval", "--dataset", "test_digits", "--model", "lisq.models.resnet:resnet8", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["n"] == 20 and out["dataset"] == "test_digits"
