from __future__ import annotations

import hashlib
import os
from pathlib import Path

from extractor.engines import model_store


def test_file_hash_is_computed_once_and_again_when_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"first")
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: (opened.append(a[0]), real_open(*a, **k))[1])

    assert model_store.file_sha256(path) == hashlib.sha256(b"first").hexdigest()
    assert model_store.file_sha256(tmp_path / "." / "weights.bin") == hashlib.sha256(b"first").hexdigest()
    assert len(opened) == 1  # the second call, by another spelling of the path, read nothing

    path.write_bytes(b"second, longer")
    os.utime(path, ns=(1, 10**18))
    assert model_store.file_sha256(path) == hashlib.sha256(b"second, longer").hexdigest()
    assert len(opened) == 2
