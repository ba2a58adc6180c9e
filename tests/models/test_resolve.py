import textwrap

import pytest
import torch.nn as nn

from lisq.errors import LisqError
from lisq.models import save_weights
from lisq.models.resolve import build_model

USER_NET = textwrap.dedent(
    """
    import torch, torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.b = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            y = torch.cat([nn.functional.gelu(self.bn(self.a(x))), self.b(x)], 1)
            return self.fc(y.mean((2, 3)))

    def factory():
        return Net()

    def not_a_module():
        return 3

    def broken():
        raise ValueError("boom")
    """
)


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "usernet.py"
    path.write_text(USER_NET)
    return path


def test_file_factory_with_weights(user_file, tmp_path):
    ref = build_model(f"{user_file}:factory")
    w = tmp_path / "w.safetensors"
    save_weights(ref, w)
    model = build_model(f"{user_file}:factory", str(w))
    assert isinstance(model, nn.Module) and not model.training
    assert all((p == q).all() for p, q in zip(ref.parameters(), model.parameters(), strict=False))


def test_module_factory():
    model = build_model("lisq.models.resnet:resnet8")
    assert sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d)) > 0


@pytest.mark.parametrize(
    "suffix, msg",
    [
        (":nope", "has no callable 'nope'"),
        (":not_a_module", "not a torch.nn.Module"),
        (":broken", "raised ValueError: boom"),
    ],
)
def test_factory_errors(user_file, suffix, msg):
    with pytest.raises(LisqError, match=msg):
        build_model(f"{user_file}{suffix}")


def test_missing_file_and_module(tmp_path):
    with pytest.raises(LisqError, match="does not exist"):
        build_model(f"{tmp_path}/none.py:factory")
    with pytest.raises(LisqError, match="cannot import module"):
        build_model("no_such_pkg.sub:factory")


def test_registry_name_defaults_to_shipped_weights():
    model = build_model("resnet8")
    assert not model.training
