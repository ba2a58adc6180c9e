import argparse

import pytest

from lisq.data.spec import FASHION_MNIST_SPEC, InputSpec, add_input_spec_args, input_spec_from_args
from lisq.errors import LisqError


def parse(*argv):
    p = argparse.ArgumentParser()
    add_input_spec_args(p)
    return input_spec_from_args(p.parse_args(list(argv)))


def test_defaults_are_fashion_mnist():
    assert parse() == FASHION_MNIST_SPEC
    assert FASHION_MNIST_SPEC.norm.mean == (0.2860,)


def test_flags_override():
    spec = parse("--input-size", "64", "--mean", "0.5,0.4,0.3", "--std", "0.2", "--num-classes", "1000")
    assert (spec.channels, spec.size, spec.num_classes) == (3, 64, 1000)
    assert spec.std == (0.2, 0.2, 0.2)


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--mean", "a,b"], "comma-separated"),
        (["--channels", "3", "--mean", "0.1,0.2"], "one value per channel"),
        (["--std", "0"], "positive"),
    ],
)
def test_bad_flags(argv, msg):
    with pytest.raises(LisqError, match=msg):
        parse(*argv)


def test_dict_roundtrip_and_unknown_keys():
    spec = InputSpec(3, 32, (0.1, 0.2, 0.3), (1, 1, 1), 100)
    assert InputSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(LisqError, match="unknown input-spec keys"):
        InputSpec.from_dict({"size": 3, "colour": 1})
