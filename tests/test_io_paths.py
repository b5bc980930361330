"""meta_rfft/io_paths.py on local disk (object stores: tests/train/test_gcs_workdir.py, with an emulator)."""
from __future__ import annotations

import os

from meta_rfft import io_paths


def test_resolve_makes_local_paths_absolute_and_keeps_urls(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert os.fspath(io_paths.resolve("run")) == os.path.join(str(tmp_path), "run")
  for url in ("gs://bucket/run", "s3://bucket/a/b"):
    assert io_paths.is_url(url)
    assert os.fspath(io_paths.resolve(url)) == url
    assert os.fspath(io_paths.resolve(url) / "config.json") == url + "/config.json"
  assert not io_paths.is_url(str(tmp_path))


def test_atomic_writes_and_appends_leave_no_temporary_files(tmp_path):
  path = tmp_path / "deep" / "dir" / "f.json"
  io_paths.write_text(path, "first")
  io_paths.write_text(path, "second")
  io_paths.write_bytes(tmp_path / "deep" / "b.bin", b"\x00\x01")
  assert path.read_text() == "second" and (tmp_path / "deep" / "b.bin").read_bytes() == b"\x00\x01"
  io_paths.append_lines(tmp_path / "log.jsonl", ["a", "b"])
  io_paths.append_lines(tmp_path / "log.jsonl", ["c"])
  assert (tmp_path / "log.jsonl").read_text() == "a\nb\nc\n"
  assert sorted(os.listdir(path.parent)) == ["f.json"]
  assert sorted(os.listdir(tmp_path / "deep")) == ["b.bin", "dir"]


def test_tree_copies_and_local_mirror(tmp_path):
  src = tmp_path / "src"
  (src / "a" / "b").mkdir(parents=True)
  (src / "top.txt").write_text("1")
  (src / "a" / "b" / "leaf.bin").write_bytes(b"2")
  io_paths.upload_tree(src, tmp_path / "dest")
  (tmp_path / "dest" / "stale.txt").write_text("old")
  io_paths.upload_tree(src, tmp_path / "dest")  # replaces the destination as a whole
  io_paths.download_tree(tmp_path / "dest", tmp_path / "back")
  for root in ("dest", "back"):
    files = sorted(os.path.relpath(os.path.join(r, f), tmp_path / root)
                   for r, _, fs in os.walk(tmp_path / root) for f in fs)
    assert files == ["a/b/leaf.bin", "top.txt"], root
  assert (tmp_path / "back" / "a" / "b" / "leaf.bin").read_bytes() == b"2"
  mirror = io_paths.LocalMirror(tmp_path / "work")  # local: the mirror IS the folder, nothing to upload
  assert not mirror.remote and mirror.local == str(tmp_path / "work") and os.path.isdir(mirror.local)
  mirror.sync()
  mirror.close()
  assert os.path.isdir(tmp_path / "work")
