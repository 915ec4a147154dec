"""Participants resolve from names, paths, labels and globs; bad ones fail before any match."""

import pytest

from agents.checkpoint import save_checkpoint
from agents.networks import PolicyNetwork
from evaluation.participants import ParticipantError, check_participants, resolve_participants


@pytest.fixture()
def runs(tmp_path):
    for run in ("bc/a", "bc/b"):
        save_checkpoint(tmp_path / "runs" / run / "best", PolicyNetwork(hidden_sizes=(8,)), name=run)
    return tmp_path


def test_names_paths_labels_and_globs(runs):
    participants, notes = resolve_participants(
        ["footsies", "mine=runs/bc/a/best"], ["runs/**/best", "nothing/**/best"], base_dir=runs)
    assert [(p.label, p.kind) for p in participants] == [
        ("footsies", "scripted"), ("mine", "checkpoint"), ("bc/a/best", "checkpoint"),
        ("bc/b/best", "checkpoint")]
    assert len(notes) == 1 and "'nothing/**/best'" in notes[0] and "train.py" in notes[0]
    check_participants(participants)  # every checkpoint loads
    assert participants[2].make().act is not None and participants[2].learned


def test_unknown_name_lists_the_registered_bots(tmp_path):
    with pytest.raises(ParticipantError) as err:
        resolve_participants(["footsies", "footsie", "runs/missing/best"], base_dir=tmp_path)
    message = str(err.value)
    assert "'footsie': unknown bot name" in message and "'runs/missing/best': no such file" in message
    assert "registered bots: footsies, idle, random" in message


def test_duplicates_and_too_few_participants_are_errors(tmp_path):
    with pytest.raises(ParticipantError, match="more than once"):
        resolve_participants(["idle", "idle"], base_dir=tmp_path)
    with pytest.raises(ParticipantError, match="at least 2"):
        resolve_participants(["idle"], ["runs/**/best"], base_dir=tmp_path)


def test_unreadable_bot_file_fails_the_check_naming_it(runs):
    manifest = runs / "runs" / "bc" / "b" / "best" / "manifest.json"
    manifest.write_text("{not json")
    participants, _ = resolve_participants(["idle"], ["runs/**/best"], base_dir=runs)
    with pytest.raises(ParticipantError) as err:
        check_participants(participants)
    assert "'bc/b/best'" in str(err.value) and "corrupt" in str(err.value)
    assert "'bc/a/best'" not in str(err.value)
