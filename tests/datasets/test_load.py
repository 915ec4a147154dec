"""Loading datasets: numpy views, streaming, splits by match, and clear errors on bad folders."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasets.generate import GenerateConfig, generate
from datasets.load import iter_frames, load_dataset, split_by_match
from datasets.manifest import MANIFEST_NAME, DatasetError, DatasetVersionError
from datasets.schema import OBSERVATION_COLUMNS


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("load") / "d"
    generate(GenerateConfig(players=["footsies", "random"], matches_per_pairing=10, seed=0, out=str(out),
                            shard_rows=5_000, progress=False))
    return out


@pytest.fixture
def copy_of(dataset_path, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(dataset_path, target)
    return target


def test_to_numpy_gives_float32_observations_and_int64_labels(dataset_path):
    ds = load_dataset(dataset_path)
    obs, labels = ds.to_numpy()
    assert obs.dtype == np.float32 and obs.shape == (ds.num_frames, len(OBSERVATION_COLUMNS))
    assert obs.shape[1] == 42
    assert labels.dtype == np.int64 and labels.shape == (ds.num_frames,)
    np.testing.assert_array_equal(obs[:, 3], ds.frames[OBSERVATION_COLUMNS[3]].to_numpy())
    np.testing.assert_array_equal(labels, ds.frames["action_id"].to_numpy())


def test_match_gives_one_timeline(dataset_path):
    ds = load_dataset(dataset_path)
    row = ds.matches.iloc[4]
    timeline = ds.match(int(row["match_id"]))
    duration = int(row["duration_frames"])
    assert list(timeline["frame"]) == [f for f in range(duration) for _ in (0, 1)]
    assert list(timeline["side"]) == [0, 1] * duration
    with pytest.raises(KeyError, match="no match 12345"):
        ds.match(12345)


def test_split_is_by_match_covers_everything_and_is_seeded(dataset_path):
    ds = load_dataset(dataset_path)
    splits = split_by_match(ds, (0.6, 0.2, 0.2), seed=1)
    assert list(splits) == ["train", "val", "test"]
    ids = {name: set(s.matches["match_id"]) for name, s in splits.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"])
    assert not (ids["val"] & ids["test"])
    assert ids["train"] | ids["val"] | ids["test"] == set(ds.matches["match_id"])
    assert [len(ids[n]) for n in ("train", "val", "test")] == [18, 6, 6]
    for name, split in splits.items():
        assert set(split.frames["match_id"]) == ids[name]  # every frame goes with its match
        assert split.split == name and split.manifest["split"]["name"] == name
    assert sum(s.num_frames for s in splits.values()) == ds.num_frames
    again = split_by_match(ds, (0.6, 0.2, 0.2), seed=1)
    other = split_by_match(ds, (0.6, 0.2, 0.2), seed=2)
    assert all(again[n].frames.equals(splits[n].frames) for n in splits)
    assert {n: set(s.matches["match_id"]) for n, s in other.items()} != ids


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1)])
def test_split_rejects_bad_fractions(dataset_path, fractions):
    with pytest.raises(ValueError, match="fractions"):
        split_by_match(load_dataset(dataset_path), fractions)


def test_iter_frames_streams_the_same_rows(dataset_path):
    ds = load_dataset(dataset_path)
    batches = list(iter_frames(dataset_path, batch_rows=1_000))
    assert len(batches) > ds.num_frames // 5_000 and all(len(b) <= 1_000 for b in batches)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), ds.frames)
    only = next(iter_frames(dataset_path, columns=["match_id", "action_id"]))
    assert list(only.columns) == ["match_id", "action_id"]
    with pytest.raises(ValueError, match="unknown frames columns \\['hp'\\]"):
        next(iter_frames(dataset_path, columns=["hp"]))


def test_load_selected_columns(dataset_path):
    ds = load_dataset(dataset_path, columns=["match_id", "action_id"])
    assert list(ds.frames.columns) == ["match_id", "action_id"]


def _edit_manifest(path, **changes):
    manifest_path = path / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest.update(changes)
    manifest_path.write_text(json.dumps(manifest))


def test_encoding_version_mismatch_names_the_file_and_both_versions(copy_of):
    _edit_manifest(copy_of, observation_encoding_version="0")
    with pytest.raises(DatasetVersionError) as err:
        load_dataset(copy_of)
    message = str(err.value)
    assert str(copy_of / MANIFEST_NAME) in message
    assert "observation encoding version '0'" in message and "this code's version '1'" in message


def test_schema_version_mismatch_is_refused(copy_of):
    _edit_manifest(copy_of, schema_version="99")
    with pytest.raises(DatasetVersionError, match="log schema version '99'"):
        next(iter_frames(copy_of))


def test_corrupt_or_missing_manifest_names_the_file(copy_of):
    (copy_of / MANIFEST_NAME).write_text('{"schema_version": "1", ')
    with pytest.raises(DatasetError, match=f"{copy_of / MANIFEST_NAME} is corrupt"):
        load_dataset(copy_of)
    (copy_of / MANIFEST_NAME).write_text('{"schema_version": "1"}')
    with pytest.raises(DatasetError, match="missing keys"):
        load_dataset(copy_of)
    (copy_of / MANIFEST_NAME).unlink()
    with pytest.raises(DatasetError, match=f"{copy_of / MANIFEST_NAME} is missing"):
        load_dataset(copy_of)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(copy_of / "nope")


def test_missing_or_damaged_shard_names_the_file(copy_of):
    shard = copy_of / "frames" / "part-00001.parquet"
    shard.write_bytes(b"not parquet at all")
    with pytest.raises(DatasetError, match=f"{shard} cannot be read as Parquet"):
        load_dataset(copy_of)
    shard.unlink()
    with pytest.raises(DatasetError, match=f"{shard} is missing"):
        load_dataset(copy_of)


def test_verify_detects_frames_changed_after_writing(copy_of):
    assert load_dataset(copy_of, verify=True).num_frames > 0
    shard = copy_of / "frames" / "part-00000.parquet"
    table = pq.read_table(shard)
    column = table.column("me_hp").to_numpy().copy()
    column[0] += 0.5
    pq.write_table(table.set_column(table.schema.get_field_index("me_hp"), "me_hp", pa.array(column)), shard)
    load_dataset(copy_of)  # without verify the edit goes unnoticed ...
    with pytest.raises(DatasetError, match="do not match the content hash"):
        load_dataset(copy_of, verify=True)  # ... with it, it is caught
