import pytest
import torch

from lisq.errors import LisqError
from lisq.models import create_model, load_weights, read_state_dict, save_weights


def test_safetensors_roundtrip(tmp_path):
    a, b = create_model("resnet8"), create_model("resnet8")
    path = tmp_path / "w.safetensors"
    save_weights(a, path)
    load_weights(b, path)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not list(tmp_path.glob(".*tmp"))


def test_torch_state_dict_and_ddp_prefix(tmp_path):
    a = create_model("plaincnn")
    path = tmp_path / "w.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in a.state_dict().items()}}, path)
    b = load_weights(create_model("plaincnn"), path)
    assert torch.equal(a.head.fc.weight, b.head.fc.weight)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"x": object()}, path)
    with pytest.raises(LisqError, match="not a readable torch state dict"):
        read_state_dict(path)


@pytest.mark.parametrize("content", [b"", b"garbage" * 10])
def test_corrupt_safetensors(tmp_path, content):
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(LisqError, match="not a valid safetensors"):
        read_state_dict(path)


def test_mismatched_keys_and_shapes(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(create_model("resnet8"), path)
    with pytest.raises(LisqError, match="missing keys"):
        load_weights(create_model("resnet14"), path)
    save_weights(create_model("resnet8", num_classes=7), path)
    with pytest.raises(LisqError, match="shape mismatches"):
        load_weights(create_model("resnet8"), path)


def test_missing_file(tmp_path):
    with pytest.raises(LisqError, match="does not exist"):
        read_state_dict(tmp_path / "nope.safetensors")


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "w.safetensors"
    save_weights(create_model("resnet8"), path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
