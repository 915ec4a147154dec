"""The root entry scripts run for real (subprocess, as a user types them) and fail clearly."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a root script by path from ``cwd`` (so Hydra's outputs/ land in a temp dir)."""
    return subprocess.run([sys.executable, str(ROOT / script), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_demo_runs_a_match_and_prints_results(tmp_path):
    out = run("demo.py", "matches=20", "seed=1", "show_every=600", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "FOOTSIES WINS" in out.stdout or "RANDOM WINS" in out.stdout or "DRAW" in out.stdout
    assert "footsies vs random: 20 matches, seed 1" in out.stdout
    assert "NO_ACTION" in out.stdout


def test_demo_rejects_unknown_bot_and_unknown_key(tmp_path):
    out = run("demo.py", "p1=pro", cwd=tmp_path)
    assert out.returncode != 0
    assert "p1=pro: unknown bot 'pro'; available bots: footsies, idle, random" in out.stderr
    out = run("demo.py", "matchez=3", cwd=tmp_path)
    assert out.returncode != 0 and "unknown key 'matchez'; did you mean 'matches'?" in out.stderr
