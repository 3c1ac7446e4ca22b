"""The helpers that used to exist twice: content hashes, padding, process liveness."""

import hashlib
import json
import os
import subprocess
import sys

import torch

from bench.core.hashing import json_digest, sha256_file
from bench.core.padding import pad_rows
from bench.core.processes import pid_alive


def test_sha256_file_matches_hashlib_across_chunk_boundaries(tmp_path):
    path = tmp_path / "blob"
    data = os.urandom(10_000)
    path.write_bytes(data)
    assert sha256_file(path, chunk=4096) == hashlib.sha256(data).hexdigest()


def test_json_digest_is_key_order_free_and_keeps_stored_hashes_valid():
    a = {"b": 1, "a": [1, 2], "c": {"y": 2, "x": 1}}
    b = {"c": {"x": 1, "y": 2}, "a": [1, 2], "b": 1}
    assert json_digest(a) == json_digest(b)
    # the exact formula older result and cache paths were named with
    old = hashlib.sha256(json.dumps(a, sort_keys=True, default=str).encode()).hexdigest()
    assert json_digest(a, length=10) == old[:10] and json_digest(a, length=None) == old
    assert json_digest({**a, "b": 2}) != json_digest(a)


def test_pad_rows_left_and_right():
    rows = [(5, 6, 7), (8,)]
    ids, mask = pad_rows(rows, pad_token_id=0, side="left")
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    ids, mask = pad_rows(rows, pad_token_id=9, side="right")
    assert ids.tolist() == [[5, 6, 7], [8, 9, 9]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert ids.dtype == mask.dtype == torch.long


def test_pid_alive():
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-3)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
