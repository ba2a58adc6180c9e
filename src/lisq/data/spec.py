"""A model's input convention: channels, resolution, normalisation and class count."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lisq.data.transforms import Normalization
from lisq.errors import LisqError


@dataclass(frozen=True)
class InputSpec:
    """What a classifier expects; defaults are the Fashion-MNIST convention of the demo school."""

    channels: int = 1
    size: int = 28
    mean: tuple[float, ...] = (0.2860,)
    std: tuple[float, ...] = (0.3530,)
    num_classes: int = 10

    def __post_init__(self):
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        if self.channels < 1 or self.size < 1 or self.num_classes < 2:
            raise LisqError(f"invalid input spec {self}: channels and size must be >= 1, num_classes >= 2")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise LisqError(
                f"--mean/--std give {len(self.mean)}/{len(self.std)} values for {self.channels} channels; "
                "give one value per channel"
            )
        if any(s <= 0 for s in self.std):
            raise LisqError("--std values must be positive")

    @property
    def norm(self) -> Normalization:
        return Normalization(self.mean, self.std)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        unknown = set(d) - {"channels", "size", "mean", "std", "num_classes"}
        if unknown:
            raise LisqError(f"unknown input-spec keys {sorted(unknown)}; use channels, size, mean, std, num_classes")
        return cls(**d)


FASHION_MNIST_SPEC = InputSpec()
IMAGENET_SPEC = InputSpec(3, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1000)


def add_input_spec_args(parser) -> None:
    """The flags every model-taking verb shares (eval, quantize, synth)."""
    g = parser.add_argument_group("model input (default: Fashion-MNIST, 1x28x28, mean 0.2860, std 0.3530, 10 classes)")
    g.add_argument("--input-size", type=int, default=None, help="square input resolution the model expects")
    g.add_argument("--channels", type=int, default=None, help="input channels (1 grey, 3 RGB)")
    g.add_argument("--mean", type=str, default=None, help="per-channel mean, comma separated, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", type=str, default=None, help="per-channel std, comma separated")
    g.add_argument("--num-classes", type=int, default=None, help="number of output classes")


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LisqError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def input_spec_from_args(args, base: InputSpec = FASHION_MNIST_SPEC) -> InputSpec:
    """Override `base` with whatever flags were given; a lone --channels 3 repeats a single mean/std."""
    channels = args.channels or (len(_floats(args.mean, "--mean")) if args.mean else base.channels)
    mean = _floats(args.mean, "--mean") if args.mean else base.mean
    std = _floats(args.std, "--std") if args.std else base.std
    if len(mean) == 1 and channels > 1:
        mean = mean * channels
    if len(std) == 1 and channels > 1:
        std = std * channels
    return InputSpec(channels, args.input_size or base.size, mean, std, args.num_classes or base.num_classes)
