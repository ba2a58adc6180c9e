"""Write tests/school/fixtures/synth_pin.npz: a tiny synthesis of every generator, pinned before the
datasets redesign (issue 11) so that later refactors must reproduce it. Run from the repo root:

    .venv/bin/python tests/school/make_synth_pin.py

Only rerun it on purpose (a deliberate change of output); test_synth_pin.py compares against it. It refuses
to pin other bytes on the same CPU until a new synth revision (src/lisq/school/revision.py) records the change,
so that the datasets and bench rows made before it are set aside.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

GENERATORS = ("lis", "mixmix", "deepinversion", "zeroq", "real", "gaussian")
SETTINGS = {"num_images": 6, "batch_size": 3, "iters": 3, "seed": 7, "speed": "full"}  # full: the loop as pinned
FIXTURE = Path(__file__).parent / "fixtures" / "synth_pin.npz"


def cpu_fingerprint() -> str:
    """Machine, CPU model name, family/model numbers, a digest of the instruction-set flags (which decide the
    kernels torch picks) and the torch version: where these agree, lisq promises the same bytes."""
    import hashlib

    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = hashlib.sha1(" ".join(sorted(info.get("flags", "").split())).encode()).hexdigest()[:12]
    return (f"{platform.machine()}|{info.get('model name', '')}|family {info.get('cpu family', '')} model "
            f"{info.get('model', '')}|flags {flags}|torch {torch.__version__}")


def synthesize_all(root: Path) -> dict[str, tuple[np.ndarray, list[dict]]]:
    from lisq.data import SyntheticDataset
    from lisq.school import SynthConfig, synthesize

    out = {}
    for gen in GENERATORS:
        d = root / gen
        # the multi-teacher generators were pinned when `hierarchical` was their default sampler
        sampler = {"sampler": "hierarchical"} if gen in ("lis", "mixmix") else {}
        synthesize(d, SynthConfig(generator=gen, **SETTINGS, **sampler), quiet=True, overwrite=True, device="cpu",
                   threads=1)
        data = SyntheticDataset(d)
        out[gen] = (data.images_uint8().numpy(), data.rows)
    return out


def main() -> None:
    from lisq.school.revision import REVISION

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        results = synthesize_all(Path(tmp))
    arrays = {f"{g}_pixels": px for g, (px, _) in results.items()}
    meta = {"cpu": cpu_fingerprint(), "settings": SETTINGS, "rows": {g: rows for g, (_, rows) in results.items()},
            "synth_revision": REVISION}
    if FIXTURE.is_file():  # new bytes on this CPU mean synthesis now yields other images: that is a new revision
        old = np.load(FIXTURE)
        pinned = json.loads(str(old["meta"]))
        same = pinned["cpu"] != meta["cpu"] or all(np.array_equal(old[k], v) for k, v in arrays.items())
        if not same and pinned.get("synth_revision", 1) >= REVISION:
            sys.exit(f"the pinned images changed at synth revision {REVISION}: add a Change to "
                     "src/lisq/school/revision.py (what changed, which configs it alters) before pinning again")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(FIXTURE, meta=np.array(json.dumps(meta)), **arrays)
    print(f"wrote {FIXTURE} on {meta['cpu']}", file=sys.stderr)


if __name__ == "__main__":
    main()
