import pytest
import torch
from tiny_models import tiny_a, tiny_b

from lisq.data import Normalization, SyntheticDataset, TensorBatches
from lisq.errors import LisqError
from lisq.school import SynthConfig, synthesize


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn") / "d"
    synthesize(out, SynthConfig(generator="mixmix", num_images=6, batch_size=4, iters=3), teachers=[tiny_a(), tiny_b()], quiet=True)
    return out


def test_reader_default_normalisation_and_items(dataset_dir):
    data = SyntheticDataset(dataset_dir)
    assert len(data) == 6 and data.num_classes == 10
    x, y = data[3]
    assert x.shape == (1, 28, 28) and y == 3
    pixels = data.pixels()
    assert torch.allclose(x, (pixels[3] - 0.286) / 0.353, atol=1e-5)
    assert data.soft_labels.shape == (6, 10)


def test_reader_other_normalisation_size_and_tensor_batches(dataset_dir):
    data = SyntheticDataset(dataset_dir, Normalization((0.5,), (0.5,)), image_size=32)
    x, _ = data[0]
    assert x.shape == (1, 32, 32) and x.min() >= -1 and x.max() <= 1
    images = data.images_uint8()
    assert images.dtype == torch.uint8
    batches = list(TensorBatches(images, data.labels, data.norm, batch_size=4))
    assert [len(y) for _, y in batches] == [4, 2]
    loader = torch.utils.data.DataLoader(data, batch_size=3)
    assert next(iter(loader))[0].shape == (3, 1, 32, 32)


def test_reader_refuses_incomplete_dir(tmp_path):
    (tmp_path / "config.yaml").write_text("synth: {}\n")
    with pytest.raises(LisqError, match="--resume"):
        SyntheticDataset(tmp_path)
