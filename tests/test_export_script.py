"""``python export.py`` as a user runs it: a tiny checkpoint on a tiny dataset to a bundle, and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FAST = ("eval.final_matches_per_opponent=1", "eval.opponents=[idle]", "export.parity_rows=3000",
        "export.serve=false", "export.progress=false")  # the served sheet: tests/test_serve_script.py


def run(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "export.py"), *overrides], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory):
    """A run folder with a best/ checkpoint that records the tiny dataset and train.py's split."""
    from agents.checkpoint import save_checkpoint
    from agents.networks import PolicyNetwork
    from datasets.load import load_dataset

    run_dir = tmp_path_factory.mktemp("runs") / "bc" / "none_seed0"
    torch.manual_seed(0)
    sha = load_dataset(tiny_dataset, columns=["match_id"]).manifest["frames_sha256"]
    save_checkpoint(run_dir / "best", PolicyNetwork(hidden_sizes=(32,)), name="bc/none_seed0",
                    logit_adjustment=np.full(12, 0.1, np.float32),
                    metadata={"dataset": {"path": str(tiny_dataset), "frames_sha256": sha,
                                          "split_fractions": [0.8, 0.1, 0.1], "split_seed": 0}})
    return run_dir


def test_export_writes_a_checked_bundle_next_to_the_run(trained_run, tmp_path):
    out = run(f"bot={trained_run / 'best'}", "export.quantize=true", *FAST, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    bundle = trained_run / "export"
    assert f"wrote {bundle} (manifest.json, model.int8.onnx, model.onnx)" in out.stdout
    assert "parity: ONNX Runtime vs torch on 3,000 test rows: max |logit diff|" in out.stdout
    assert "commands identical" in out.stdout
    assert "offline (fp32, test split): accuracy" in out.stdout and "online (int8, 1 matches" in out.stdout
    assert "int8: " in out.stdout and " bytes (" in out.stdout and "accuracy change" in out.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    evaluation = manifest["provenance"]["evaluation_dataset"]
    assert evaluation["is_training_dataset"] and evaluation["split_fractions"] == [0.8, 0.1, 0.1]
    assert manifest["timing"]["observation_delay_frames"] == 0
    assert manifest["timing"]["observation_delay_source"].startswith("training dataset manifest")
    assert manifest["provenance"]["export_config"]["export"]["quantize"] is True
    code = manifest["provenance"]["code"]
    assert code is None or len(code["commit"]) == 40

    again = run(f"bot={trained_run}", *FAST, cwd=tmp_path)  # the run folder resolves to best/
    assert again.returncode != 0 and f"{bundle} already exists: pass export.overwrite=true" in again.stderr
    assert json.loads((bundle / "manifest.json").read_text())["created_at"] == manifest["created_at"]


def test_bad_input_fails_with_a_message(trained_run, tmp_path):
    out = run(f"bot={trained_run}", "export.quantise=true", cwd=tmp_path)
    assert out.returncode == 2 and "did you mean 'export.quantize'?" in out.stderr
    out = run(cwd=tmp_path)
    assert out.returncode != 0 and "export.py: say which bot to export: python export.py bot=" in out.stderr
    assert not list(tmp_path.iterdir()) or all(p.name == "outputs" for p in tmp_path.iterdir())
