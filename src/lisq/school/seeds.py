"""Random streams of a batch: every batch derives its own seeds from (run seed, batch index, attempt, stream),
so a dataset does not depend on the number of workers or on where a run was resumed (SPEC section 6)."""

from __future__ import annotations

import numpy as np

STREAM_NOISE, STREAM_SCHEDULE, STREAM_REAL = 0, 1, 2


def derive_seed(seed: int, batch: int, attempt: int = 0, stream: int = STREAM_NOISE) -> int:
    """A 63-bit seed for one random stream of one batch, independent of worker count and resume point."""
    state = np.random.SeedSequence([seed, batch, attempt, stream]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1
