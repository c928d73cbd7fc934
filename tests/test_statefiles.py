"""Runtime state files: replaced atomically, with their content, mode and no temporary left behind."""

from __future__ import annotations

import os
import stat
import threading

from virtkernel.statefiles import write_runtime_file


def test_a_runtime_file_is_created_and_replaced_whole(tmp_path):
    path = tmp_path / "g1.status"
    write_runtime_file(path, '{"state": 1}\n')
    assert path.read_text() == '{"state": 1}\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_runtime_file(path, b"short")  # shorter than before: nothing of the old content remains
    assert path.read_bytes() == b"short"
    write_runtime_file(path, "")
    assert path.read_bytes() == b""
    assert sorted(os.listdir(tmp_path)) == ["g1.status"]


def test_readers_never_see_a_partial_file(tmp_path):
    path = tmp_path / "status.json"
    contents = [("x" * 5000).encode(), ("y" * 70).encode()]
    write_runtime_file(path, contents[0])
    seen: set[bytes] = set()
    done = threading.Event()

    def read_all() -> None:
        while not done.is_set():
            seen.add(path.read_bytes())
    reader = threading.Thread(target=read_all)
    reader.start()
    for index in range(300):
        write_runtime_file(path, contents[index % 2])
    done.set()
    reader.join()
    assert seen <= set(contents) and seen
