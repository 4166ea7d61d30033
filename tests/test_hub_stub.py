"""The real huggingface_hub / datasets / transformers clients work unchanged against the local Hub stand-in."""

from __future__ import annotations

from pathlib import Path

from conftest import HubFixture

BINARY = bytes(range(256)) * 40  # NUL bytes: the Hub stores such a file in LFS


def _folder(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("hello hub\n", encoding="utf-8")
    (path / "sub" / "weights.bin").write_bytes(BINARY)
    (path / "sub" / "raw.dat").write_bytes(BINARY[:600])
    return path


def test_create_upload_folder_download(hub: HubFixture, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi()
    url = api.create_repo("tester/model-a")
    assert url.repo_id == "tester/model-a"
    assert url.startswith(hub.url)
    info = api.upload_folder(repo_id="tester/model-a", folder_path=_folder(tmp_path / "src"), commit_message="add")
    assert len(info.oid) == 40
    assert sorted(api.list_repo_files("tester/model-a")) == [
        ".gitattributes",
        "notes.txt",
        "sub/raw.dat",
        "sub/weights.bin",
    ]
    assert hub.stub.is_lfs("tester/model-a", "sub/weights.bin")
    assert hub.stub.is_lfs("tester/model-a", "sub/raw.dat")  # binary content without a known suffix
    assert not hub.stub.is_lfs("tester/model-a", "notes.txt")
    weights = hf_hub_download("tester/model-a", "sub/weights.bin")
    assert Path(weights).read_bytes() == BINARY
    notes = hf_hub_download("tester/model-a", "notes.txt", cache_dir=tmp_path / "cache")
    assert Path(notes).read_text(encoding="utf-8") == "hello hub\n"
