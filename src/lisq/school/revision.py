"""What synthesis makes of a config, by revision of the code.

A dataset records the settings it was made with (config.yaml) and, since revision 2, the `synth_revision` of
the code that made it. A code change that alters the images or labels some config yields adds a `Change` here,
naming the configs it alters. A dataset made before such a change is *outdated*: its config now yields other
images. `lisq synth --resume` refuses to add batches to it, and `lisq bench` sets its rows and the dataset
aside and synthesizes it again. A change leaves the datasets of the configs it does not touch as they are.

Bump rule: whoever changes what `tests/school/test_synth_pin.py` pins, or what any config yields, adds a
Change (the next revision) with a predicate as narrow as the change. A config.yaml without the key was
written at revision 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lisq.errors import LisqError


@dataclass(frozen=True)
class Change:
    revision: int
    what: str
    applies: Callable[[dict], bool]  # on the resolved synth settings (config.yaml's `synth`)


CHANGES: tuple[Change, ...] = (
    Change(2, "MixMix under early stopping: the plateau rule counts only comparable (non-CutMix) steps; before, "
              "it stopped batches at 60-120 of 200 iterations",
           lambda s: (s.get("mix_prob") or 0) > 0 and (s.get("stop_window") or 0) > 0),
)
REVISION = max(c.revision for c in CHANGES)


def revision_of(config: dict) -> int:
    """The synth revision a dataset's config.yaml (or a bench's synthesis record) says it was made at."""
    made = int(config.get("synth_revision", 1) or 1)
    if made > REVISION:
        raise LisqError(f"this dataset was made by a newer lisq (synth revision {made}, this lisq makes {REVISION}); "
                        "upgrade lisq to use it")
    return made


def changes_since(made: int, synth: dict) -> list[Change]:
    """The changes after revision `made` that alter what the synth settings `synth` yield."""
    return [c for c in CHANGES if c.revision > made and c.applies(synth)]


def outdated(config: dict) -> list[Change]:
    """The changes since a dataset's config.yaml (any schema) was written that alter its images: [] = current."""
    from lisq.school.config import normalise_resolved

    made = revision_of(config)
    if made == REVISION:
        return []
    return changes_since(made, normalise_resolved(config).get("synth") or {})


def describe(changes: list[Change]) -> str:
    return "; ".join(f"revision {c.revision}: {c.what}" for c in changes)
