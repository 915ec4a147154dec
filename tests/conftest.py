"""Shared test setup: headless pygame, and small helpers used across the suite."""

import os

# Rendering tests run without a display or sound card (SDL's dummy drivers).
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
