"""Fixtures for the profile tests: the composed `bench profile` config, shrunk to seconds."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from bench.paths import CONFIG_DIR
from bench.profile.config import PRIMARY, register


def compose_profile(*overrides: str):
    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name=PRIMARY, overrides=list(overrides))


@pytest.fixture
def smoke_cfg():
    """configs/profile/smoke.yaml with one repetition and no plots."""
    return compose_profile("profile=smoke", "repetitions=1", "plots=false", "sweep.dtype=[float32]")
