"""Synth revisions: a dataset made before a code change that alters its images is known as such; resuming it
is refused, and only the configs a change touches are affected."""

import pytest
import yaml
from test_synth import small
from tiny_models import tiny_a, tiny_b

from lisq.errors import LisqError
from lisq.school import revision, synthesize
from lisq.school.revision import REVISION, outdated


def made(tmp_path, **kw):
    out = tmp_path / "d"
    synthesize(out, small(num_images=8, **kw), teachers=[tiny_a(), tiny_b()], quiet=True)
    return out, yaml.safe_load((out / "config.yaml").read_text())


def test_config_records_the_revision_and_a_current_dataset_is_not_outdated(tmp_path):
    _, config = made(tmp_path, generator="mixmix", stop_window=2)
    assert config["synth_revision"] == REVISION
    assert outdated(config) == []


@pytest.mark.parametrize("kw, hit", [
    ({"generator": "mixmix", "stop_window": 2}, True),   # the plateau fix of revision 2 changed these
    ({"generator": "mixmix", "stop_window": 0}, False),  # no early stop: the same images before and after
    ({"generator": "lis", "stop_window": 2}, False),     # no CutMix steps: the same images before and after
])
def test_revision_2_outdates_only_mixmix_under_early_stopping(tmp_path, kw, hit):
    _, config = made(tmp_path, **kw)
    del config["synth_revision"]  # as written before the key existed: revision 1
    assert [c.revision for c in outdated(config)] == ([2] if hit else [])


def test_resume_of_an_outdated_dataset_is_refused_and_overwrite_remakes_it(tmp_path):
    out, config = made(tmp_path, generator="mixmix", stop_window=2)
    (out / "config.yaml").write_text(yaml.safe_dump({k: v for k, v in config.items() if k != "synth_revision"}))
    again = dict(generator="mixmix", stop_window=2, num_images=8)
    with pytest.raises(LisqError, match="made before a change to what its settings yield .*revision 2.*--overwrite"):
        synthesize(out, small(**again), teachers=[tiny_a(), tiny_b()], quiet=True, resume=True)
    synthesize(out, small(**again), teachers=[tiny_a(), tiny_b()], quiet=True, overwrite=True)
    assert yaml.safe_load((out / "config.yaml").read_text())["synth_revision"] == REVISION


def test_a_dataset_from_a_newer_revision_is_refused(tmp_path, monkeypatch):
    _, config = made(tmp_path)
    config["synth_revision"] = REVISION + 1
    with pytest.raises(LisqError, match="newer lisq"):
        outdated(config)
    monkeypatch.setattr(revision, "REVISION", REVISION + 1)  # that lisq reads it
    assert outdated(config) == []
