"""Shared test setup: headless pygame, and small helpers used across the suite."""

import os

# Rendering tests run without a display or sound card (SDL's dummy drivers).
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> "object":
    """A small pro-log dataset (3 pros, 6 matches per pairing, ~120k rows) shared by the BC tests.

    Generated once per session with the real generator, so the BC, checkpoint and train-script tests
    train on the same kind of rows as the default dataset, only fewer.
    """
    from datasets.generate import GenerateConfig, generate

    return generate(GenerateConfig(matches_per_pairing=6, seed=0, progress=False,
                                   out=str(tmp_path_factory.mktemp("data") / "tiny")))
