"""Typed result records: the stored JSON layout round-trips, old files load, the long frame."""

import json

import pytest

from bench.app.records import BASE_ROW, MethodInfo, ResultRecord, records_frame
from bench.app.store import ResultKey, ResultStore
from bench.core.errors import BenchError

# the layout written before records were typed (gen result of the shared base row)
OLD_LAYOUT = {
    "schema": 1,
    "model": {"name": "smollm2-135m", "slug": "smollm2-135m", "weights_sha256": "ab" * 32},
    "method": {"name": "base", "label": "base", "config": {}, "config_hash": "model",
               "shared_by": "every training-free method (the unchanged model)", "computed_with": "prompteol"},
    "suite": "gen", "task": "arc_easy", "split": "test", "limit": 100, "limit_source": "suite default",
    "n_examples": 100, "main_metric": "acc_norm,none", "main_score": 41.0, "scores": {"acc_norm,none": 41.0},
    "seed": 0, "data": {"data_dir": "/d", "files": [{"path": "arc/x.jsonl", "sha256": "cd" * 32}]},
    "timing": {"seconds": 3.5}, "lm_eval": {"n_shot": 0, "task_config_hash": "f00"},
    "peak_memory": {"rss_mb": 900.0}, "runtime": {"batch_size": 16}, "environment": {"git": {}},
}  # fmt: skip


def test_old_layout_loads_and_is_written_back_unchanged(tmp_path):
    key = ResultKey("smollm2-135m", "base", "model", "arc_easy", 100)
    store = ResultStore(tmp_path)
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_text(json.dumps(OLD_LAYOUT))
    record = store.read(key)
    assert record.method.name == BASE_ROW and record.method.computed_with == "prompteol"
    assert record.details == {"lm_eval": {"n_shot": 0, "task_config_hash": "f00"}}
    assert record.data.files[0]["path"] == "arc/x.jsonl" and record.path == store.path(key)
    store.write(key, record)
    assert json.loads(store.path(key).read_text()) == OLD_LAYOUT


def test_relabel_changes_only_the_label():
    record = ResultRecord.from_dict(OLD_LAYOUT)
    relabelled = record.relabelled("base[x]")
    assert relabelled.method.label == "base[x]" and record.method.label == "base"
    assert relabelled.to_dict() == {**OLD_LAYOUT, "method": {**OLD_LAYOUT["method"], "label": "base[x]"}}


def test_details_may_not_shadow_record_fields():
    record = ResultRecord({"name": "m"}, MethodInfo("a", "a"), "sts", "STS12", 1.0, details={"seed": 3})
    with pytest.raises(ValueError, match="seed"):
        record.to_dict()


def test_unreadable_or_foreign_files_are_one_line_errors(tmp_path):
    store = ResultStore(tmp_path)
    key = ResultKey("m", "a", "h", "STS12")
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_text("{not json")
    with pytest.raises(BenchError, match="unreadable result file"):
        store.read(key)
    store.path(key).write_text(json.dumps({"hello": 1}))
    with pytest.raises(BenchError, match="not a bench result record"):
        store.read(key)


def test_records_frame_has_one_row_per_record_with_the_limit_as_a_column():
    model, method = {"name": "m", "slug": "m"}, MethodInfo("a", "a", "h1")
    records = [
        ResultRecord(model, method, "sts", "STS12", 50.0, limit=None),
        ResultRecord(model, method, "sts", "STS12", 51.0, limit=20, seed=2),
    ]
    frame = records_frame(records)
    assert len(frame) == 2
    assert frame["limit"].isna().tolist() == [True, False] and frame["limit"].iloc[1] == 20
    assert frame["score"].tolist() == [50.0, 51.0] and frame["seed"].tolist() == [0, 2]
    assert set(frame["model"]) == {"m"} and set(frame["config_hash"]) == {"h1"}


def test_predictions_of_another_result_or_a_broken_file_are_refused(tmp_path):
    import numpy as np

    store = ResultStore(tmp_path)
    key = ResultKey("m", "a", "h", "STS12")
    record = ResultRecord({"name": "m"}, MethodInfo("a", "a"), "sts", "STS12", 1.0,
                          details={"predictions": {"arrays": {"cosine": 3}}})  # fmt: skip
    store.write(key, record, {"cosine": np.array([0.1, 0.2, 0.3])})
    stored = store.read(key)
    assert stored.details["predictions"]["npz_sha256"]
    assert store.predictions(stored)["cosine"].tolist() == [0.1, 0.2, 0.3]
    # an interrupted overwrite: new predictions beside the old record
    ResultStore(tmp_path).predictions_path(key).write_bytes(b"PK\x03\x04 not an archive")
    with pytest.raises(BenchError, match="does not belong"):
        store.predictions(stored)
    # a record without the hash (written by an earlier version) and a broken file
    legacy = ResultRecord.from_dict(
        {**stored.to_dict(), "predictions": {"arrays": {"cosine": 3}}}, stored.path
    )
    with pytest.raises(BenchError, match="unreadable predictions file"):
        store.predictions(legacy)
    # rewriting the result without predictions removes the stale file
    store.write(key, record)
    assert not store.predictions_path(key).exists()
