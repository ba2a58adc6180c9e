"""The one input convention of lisq: what a classifier takes and which label space it answers in.

Every model reference, teacher, judge, synthesis canvas and quantized-model directory carries one
`InputSpec`; datasets (lisq.data.registry) carry the convention of lisq's own models for their label
space, and models trained elsewhere say theirs (e.g. the ImageNet mean/std of an outside CIFAR-10 net).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from lisq.data.transforms import Normalization
from lisq.errors import LisqError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class InputSpec:
    """channels x size x size normalised input, `num_classes` logits, labels of dataset `dataset`.

    `crop_pct` and `interpolation` say how real images of another resolution are brought to `size`
    (short side to size / crop_pct, centre crop); None = the dataset's policy. Defaults are the
    Fashion-MNIST convention of the demo school.
    """

    channels: int = 1
    size: int = 28
    mean: tuple[float, ...] = (0.2860,)
    std: tuple[float, ...] = (0.3530,)
    num_classes: int = 10
    dataset: str = "fmnist"
    crop_pct: float | None = None
    interpolation: str = "bilinear"

    def __post_init__(self):
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        object.__setattr__(self, "channels", int(self.channels))
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "num_classes", int(self.num_classes))
        if self.channels < 1 or self.size < 1 or self.num_classes < 2:
            raise LisqError(f"invalid input spec {self}: channels and size must be >= 1, num_classes >= 2")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise LisqError(
                f"--mean/--std give {len(self.mean)}/{len(self.std)} values for {self.channels} channels; "
                "give one value per channel"
            )
        if any(s <= 0 for s in self.std):
            raise LisqError("--std values must be positive")
        if self.crop_pct is not None and not 0.0 < float(self.crop_pct) <= 1.0:
            raise LisqError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if self.interpolation not in INTERPOLATIONS:
            raise LisqError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")

    @property
    def norm(self) -> Normalization:
        return Normalization(self.mean, self.std)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def describe(self) -> str:
        return f"{self.channels}x{self.size}x{self.size}, {self.num_classes} classes of {self.dataset}"

    def replace(self, **changes) -> InputSpec:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict, default_dataset: str = "fmnist") -> InputSpec:
        """Read a spec; records written before the dataset key existed were Fashion-MNIST ones."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise LisqError(f"unknown input-spec keys {sorted(unknown)}; use {', '.join(sorted(names))}")
        d = dict(d)
        d.setdefault("dataset", default_dataset)
        return cls(**d)


FASHION_MNIST_SPEC = InputSpec()
IMAGENET_SPEC = InputSpec(3, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1000, "imagenet", 0.875)


def add_input_spec_args(parser) -> None:
    """The flags every model-taking verb shares (eval, quantize): overrides of the model's own convention."""
    g = parser.add_argument_group("model input (default: what the model reference or --dataset says)")
    g.add_argument("--input-size", type=int, default=None, help="square input resolution the model expects")
    g.add_argument("--channels", type=int, default=None, help="input channels (1 grey, 3 RGB)")
    g.add_argument("--mean", type=str, default=None, help="per-channel mean, comma separated, e.g. 0.485,0.456,0.406")
    g.add_argument("--std", type=str, default=None, help="per-channel std, comma separated")
    g.add_argument("--num-classes", type=int, default=None, help="number of output classes")
    g.add_argument("--crop-pct", type=float, default=None,
                   help="real images: resize the short side to input-size/crop-pct, centre-crop (default: the dataset's)")


def _floats(text: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise LisqError(f"{flag} must be comma-separated numbers, got {text!r}") from None


def input_overrides(args) -> dict:
    """The input flags that were given, as InputSpec fields (a lone mean/std value repeats per channel)."""
    out: dict = {}
    if getattr(args, "channels", None):
        out["channels"] = args.channels
    if getattr(args, "input_size", None):
        out["size"] = args.input_size
    if getattr(args, "num_classes", None):
        out["num_classes"] = args.num_classes
    if getattr(args, "crop_pct", None):
        out["crop_pct"] = args.crop_pct
    for key in ("mean", "std"):
        text = getattr(args, key, None)
        if text:
            out[key] = _floats(text, f"--{key}")
    return out


def apply_overrides(base: InputSpec, overrides: dict) -> InputSpec:
    """`base` with the given fields replaced; a single mean/std value repeats over the channels."""
    if not overrides:
        return base
    o = dict(overrides)
    channels = int(o.get("channels") or (len(o["mean"]) if "mean" in o and len(o["mean"]) > 1 else base.channels))
    o["channels"] = channels
    for key in ("mean", "std"):
        value = tuple(o.get(key, getattr(base, key)))
        if len(value) == 1 and channels > 1:
            value = value * channels
        elif len(value) != channels and key not in overrides:
            value = (value[0],) * channels if len(set(value)) == 1 else value
        o[key] = value
    return replace(base, **o)


def input_spec_from_args(args, base: InputSpec = FASHION_MNIST_SPEC) -> InputSpec:
    """`base` with whatever input flags were given (a lone --channels 3 repeats a single mean/std)."""
    return apply_overrides(base, input_overrides(args))
