"""The real huggingface_hub / datasets / transformers clients work unchanged against the local Hub stand-in."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import HubFixture, build_tiny_model

BINARY = bytes(range(256)) * 40  # NUL bytes: the Hub stores such a file in LFS


@pytest.fixture(autouse=True)
def _every_call_routed(hub: HubFixture) -> Iterator[None]:
    """No client call in these tests may fall outside the stub's routes (a 404 "no route" would hide a gap)."""
    yield
    assert hub.stub.unrouted == []


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


def test_create_repo_conflict_and_exist_ok(hub: HubFixture) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    api.create_repo("model-b")  # no namespace: lands under the token's user
    assert api.repo_info(f"{hub.user}/model-b").sha
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo(f"{hub.user}/model-b")
    assert err.value.response.status_code == 409
    assert api.create_repo(f"{hub.user}/model-b", exist_ok=True).repo_id == f"{hub.user}/model-b"
    assert api.whoami()["name"] == hub.user


def test_write_without_token_is_401_and_missing_things_are_404(
    hub: HubFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    HfApi().create_repo("tester/m")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tester/absent", "x.txt")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("gpt2", "config.json")  # nothing from the real Hub is reachable
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("gpt2")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("tester/m", "absent.txt")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("tester/m", ".gitattributes", revision="no-such-branch")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(HfHubHTTPError) as err:
        HfApi().upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="tester/m")
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        HfApi().create_repo("tester/other", token="invalid-token")
    assert err.value.response.status_code == 401


def test_upload_file_history_tree_and_paths_info(hub: HubFixture) -> None:
    from huggingface_hub import HfApi, RepoFile, RepoFolder, hf_hub_download

    api = HfApi()
    api.create_repo("tester/m")
    first = api.upload_file(path_or_fileobj=b"v1\n", path_in_repo="a/b.txt", repo_id="tester/m")
    second = api.upload_file(path_or_fileobj=BINARY, path_in_repo="a/model.safetensors", repo_id="tester/m")
    assert first.oid != second.oid
    assert api.repo_info("tester/m").sha == second.oid
    same = api.upload_file(path_or_fileobj=b"v1\n", path_in_repo="a/b.txt", repo_id="tester/m")
    assert same.oid == second.oid  # unchanged file: the client skips the empty commit (preupload gave the oid)
    api.upload_file(path_or_fileobj=b"v2\n", path_in_repo="a/b.txt", repo_id="tester/m")
    assert Path(hf_hub_download("tester/m", "a/b.txt", revision=first.oid)).read_bytes() == b"v1\n"
    assert Path(hf_hub_download("tester/m", "a/b.txt")).read_bytes() == b"v2\n"
    assert [c.title for c in api.list_repo_commits("tester/m")][-1] == "initial commit"
    top = list(api.list_repo_tree("tester/m"))
    assert [(type(e), e.path) for e in top] == [(RepoFolder, "a"), (RepoFile, ".gitattributes")]
    deep = {e.path: e for e in api.list_repo_tree("tester/m", recursive=True, expand=True)}
    lfs = deep["a/model.safetensors"]
    assert isinstance(lfs, RepoFile) and lfs.lfs is not None
    assert lfs.lfs.sha256 == hashlib.sha256(BINARY).hexdigest()
    assert lfs.last_commit is not None and lfs.last_commit.oid == second.oid
    infos = api.get_paths_info("tester/m", ["a", "a/b.txt", "nope"])
    assert [(type(i), i.path) for i in infos] == [(RepoFolder, "a"), (RepoFile, "a/b.txt")]
    api.delete_file("a/b.txt", repo_id="tester/m")
    api.delete_folder("a", repo_id="tester/m")
    assert api.list_repo_files("tester/m") == [".gitattributes"]
    api.create_branch("tester/m", branch="dev")
    api.create_tag("tester/m", tag="v1", revision="dev")
    refs = api.list_repo_refs("tester/m")
    assert sorted(b.name for b in refs.branches) == ["dev", "main"]
    assert [t.name for t in refs.tags] == ["v1"]
    dev = api.upload_file(path_or_fileobj=b"dev\n", path_in_repo="dev.txt", repo_id="tester/m", revision="dev")
    assert api.list_repo_files("tester/m", revision="dev") == [".gitattributes", "dev.txt"]
    assert api.repo_info("tester/m", revision="dev").sha == dev.oid
    api.update_repo_settings("tester/m", private=True)
    assert api.repo_info("tester/m").private
    api.delete_repo("tester/m")
    assert not api.repo_exists("tester/m")


def test_the_tree_listing_is_paged_as_the_hub_pages_it(hub: HubFixture, tmp_path: Path) -> None:
    """The Hub serves the tree 1000 entries a page (50 with expand) and links the next page in a ``Link`` header;
    the stand-in served the whole tree at once, so a caller that read only the first page passed. With small pages
    the clients see every entry once, each with its last commit, at the root and in a folder."""
    import httpx
    from huggingface_hub import HfApi, HfFileSystem

    api = HfApi()
    api.create_repo("tester/p")
    for i in range(7):
        (tmp_path / "src" / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / f"d{i % 3}" / f"f{i}.txt").write_text(str(i), encoding="utf-8")
        (tmp_path / "src" / f"top{i}.txt").write_text(str(i), encoding="utf-8")
    api.upload_folder(repo_id="tester/p", folder_path=tmp_path / "src")
    whole = [(type(e), e.path) for e in api.list_repo_tree("tester/p", recursive=True)]
    assert len(whole) == 3 + 7 + 7 + 1  # folders, their files, the top files, .gitattributes
    hub.stub.page_tree(plain=4, expand=3)
    assert [(type(e), e.path) for e in api.list_repo_tree("tester/p", recursive=True)] == whole
    expanded = list(api.list_repo_tree("tester/p", recursive=True, expand=True))
    assert [(type(e), e.path) for e in expanded] == whole
    titles = {e.path: e.last_commit.title if e.last_commit else None for e in expanded}
    assert titles.pop(".gitattributes") == "initial commit"
    assert set(titles.values()) == {"Upload folder using huggingface_hub"}
    assert [e.path for e in api.list_repo_tree("tester/p", "d0")] == ["d0/f0.txt", "d0/f3.txt", "d0/f6.txt"]
    files = sorted(f"tester/p/{path}" for kind, path in whole if kind.__name__ == "RepoFile")
    assert sorted(HfFileSystem().find("tester/p")) == files

    # the pages themselves: 3 entries each with expand, the next one linked with the query, none after the last
    url: str | None = f"{hub.url}/api/models/tester/p/tree/main?recursive=true&expand=true"
    sizes = []
    while url is not None:
        response = httpx.get(url)
        assert response.status_code == 200 and all("lastCommit" in entry for entry in response.json())
        sizes.append(len(response.json()))
        url = response.links.get("next", {}).get("url")
        assert url is None or ("recursive=true" in url and "expand=true" in url and "cursor=" in url)
    assert sizes == [3, 3, 3, 3, 3, 3]
    response = httpx.get(f"{hub.url}/api/models/tester/p/tree/main?cursor=not-one")
    assert response.status_code == 400 and "Invalid cursor" in response.headers["X-Error-Message"]


def test_range_and_head_requests(hub: HubFixture) -> None:
    import httpx
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

    api = HfApi()
    api.create_repo("tester/m")
    commit = api.upload_file(path_or_fileobj=BINARY, path_in_repo="w.bin", repo_id="tester/m")
    meta = get_hf_file_metadata(hf_hub_url("tester/m", "w.bin"))
    assert (meta.commit_hash, meta.etag, meta.size) == (commit.oid, hashlib.sha256(BINARY).hexdigest(), len(BINARY))
    response = httpx.get(hf_hub_url("tester/m", "w.bin"), headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.content == BINARY[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(BINARY)}"


def test_hf_file_system_reads_and_lists(hub: HubFixture) -> None:
    from huggingface_hub import HfApi, HfFileSystem

    api = HfApi()
    api.create_repo("tester/d", repo_type="dataset")
    api.upload_file(path_or_fileobj=BINARY, path_in_repo="data/x.bin", repo_id="tester/d", repo_type="dataset")
    fs = HfFileSystem()
    assert fs.ls("datasets/tester/d/data", detail=False) == ["datasets/tester/d/data/x.bin"]
    with fs.open("datasets/tester/d/data/x.bin", "rb") as handle:
        handle.seek(100)
        assert handle.read(50) == BINARY[100:150]


def test_model_and_dataset_cards_round_trip(hub: HubFixture) -> None:
    from huggingface_hub import DatasetCard, DatasetCardData, HfApi, ModelCard, ModelCardData

    api = HfApi()
    api.create_repo("tester/m")
    api.create_repo("tester/d", repo_type="dataset")
    data = ModelCardData(language="en", license="mit", library_name="transformers", tags=["sxhub"])
    ModelCard.from_template(data, model_id="m", model_description="A test model.").push_to_hub("tester/m")
    card = ModelCard.load("tester/m")
    assert card.data.license == "mit"
    assert "A test model." in card.text
    info = api.model_info("tester/m")
    assert info.card_data is not None and info.card_data.tags == ["sxhub"]
    assert info.library_name == "transformers"
    DatasetCard.from_template(DatasetCardData(license="cc-by-4.0", pretty_name="D"), pretty_name="D").push_to_hub(
        "tester/d"
    )
    assert DatasetCard.load("tester/d").data.license == "cc-by-4.0"


def test_space_upload(hub: HubFixture, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo("tester/app", repo_type="space", space_sdk="gradio")
    assert url.startswith(f"{hub.url}/spaces/")
    (tmp_path / "space").mkdir()
    (tmp_path / "space" / "app.py").write_text("import gradio as gr\n", encoding="utf-8")
    (tmp_path / "space" / "requirements.txt").write_text("sxhub\n", encoding="utf-8")
    api.upload_folder(repo_id="tester/app", repo_type="space", folder_path=tmp_path / "space")
    info = api.space_info("tester/app")
    assert info.sdk == "gradio"
    assert sorted(s.rfilename for s in info.siblings or []) == [".gitattributes", "app.py", "requirements.txt"]
    assert hub.stub.read_file("tester/app", "app.py", repo_type="space") == b"import gradio as gr\n"


@pytest.mark.slow
def test_datasets_push_to_hub_and_load_dataset(hub: HubFixture) -> None:
    import datasets

    rows = {"text": ["good", "bad", "great"], "label": [1, 0, 1]}
    datasets.Dataset.from_dict(rows).push_to_hub("tester/ds")
    loaded = datasets.load_dataset("tester/ds")
    assert loaded["train"].to_dict() == rows
    assert any(
        hub.stub.is_lfs("tester/ds", p, repo_type="dataset")
        for p in hub.stub.list_files("tester/ds", repo_type="dataset")
        if p.endswith(".parquet")
    )

    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict(rows), test=datasets.Dataset.from_dict({"text": ["low"], "label": [0]})
    )
    splits.push_to_hub("tester/ds2", private=True)
    loaded2 = datasets.load_dataset("tester/ds2")
    assert sorted(loaded2) == ["test", "train"]
    assert loaded2["test"].to_dict() == {"text": ["low"], "label": [0]}


@pytest.mark.slow
def test_transformers_push_to_hub_from_pretrained_and_pipeline(hub: HubFixture, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    local = build_tiny_model(tmp_path / "tiny", num_labels=2)
    model = AutoModelForSequenceClassification.from_pretrained(local)
    tokenizer = AutoTokenizer.from_pretrained(local)
    model.push_to_hub("tester/tiny")
    tokenizer.push_to_hub("tester/tiny")
    assert hub.stub.is_lfs("tester/tiny", "model.safetensors")

    remote = AutoModelForSequenceClassification.from_pretrained("tester/tiny").eval()
    remote_tokenizer = AutoTokenizer.from_pretrained("tester/tiny")
    batch = remote_tokenizer(["profit rose", "sales fell"], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model.eval()(**tokenizer(["profit rose", "sales fell"], return_tensors="pt", padding=True)).logits
        got = remote(**batch).logits
    torch.testing.assert_close(got, expected)
    classify = pipeline("text-classification", model="tester/tiny", top_k=None, function_to_apply="none")
    scores = classify(["profit rose"])[0]  # one list of {label, score} per input text
    by_label = {item["label"]: item["score"] for item in scores}
    assert by_label == pytest.approx({model.config.id2label[i]: float(expected[0, i]) for i in range(2)}, abs=1e-5)


def test_snapshot_download_and_listing(hub: HubFixture, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi()
    api.create_repo("tester/m")
    api.create_repo("test-org/private-m", private=True)
    api.upload_folder(repo_id="tester/m", folder_path=_folder(tmp_path / "src"))
    snapshot = Path(snapshot_download("tester/m"))
    assert (snapshot / "sub" / "weights.bin").read_bytes() == BINARY
    assert [m.id for m in api.list_models(author="tester")] == ["tester/m"]
    assert [m.id for m in api.list_models(search="private")] == ["test-org/private-m"]


@pytest.mark.slow
def test_datasets_push_twice_replaces_the_data(hub: HubFixture) -> None:
    import datasets

    datasets.Dataset.from_dict({"text": ["a", "b"]}).push_to_hub("tester/ds")
    datasets.Dataset.from_dict({"text": ["c"]}).push_to_hub("tester/ds", commit_message="second")
    assert datasets.load_dataset("tester/ds", split="train")["text"] == ["c"]
    data_files = [p for p in hub.stub.list_files("tester/ds", repo_type="dataset") if p.startswith("data/")]
    assert len(data_files) == 1


def test_branch_exist_ok_visibility_and_a_missing_branch(hub: HubFixture) -> None:
    """What ``sxhub publish --revision/--private`` relies on, as on the Hub: ``create_branch(exist_ok=True)`` on an
    existing branch is no error (409 taken as done), a commit to a branch that does not exist is 404, and
    ``update_repo_settings`` makes a dataset repo private."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    api.create_repo("tester/d", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(
            path_or_fileobj=b"x\n", path_in_repo="x.txt", repo_id="tester/d", repo_type="dataset", revision="nope"
        )
    assert err.value.response.status_code == 404
    api.create_branch("tester/d", branch="dev", repo_type="dataset")
    api.create_branch("tester/d", branch="dev", repo_type="dataset", exist_ok=True)
    with pytest.raises(HfHubHTTPError) as err:
        api.create_branch("tester/d", branch="dev", repo_type="dataset")
    assert err.value.response.status_code == 409
    assert not api.dataset_info("tester/d").private
    api.update_repo_settings("tester/d", private=True, repo_type="dataset")
    assert api.dataset_info("tester/d").private


def test_a_read_only_token_reads_but_is_refused_writes_with_403(hub: HubFixture) -> None:
    """The Hub answers 403 to a token without write permission (huggingface_hub ``create_repo`` then checks whether
    the repo exists); a read token still reads, and ``whoami`` says its role."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    HfApi().create_repo(f"{hub.user}/m")
    reader = HfApi(token="read_token")
    assert reader.whoami()["auth"]["accessToken"]["role"] == "read"
    assert reader.repo_exists(f"{hub.user}/m")
    with pytest.raises(HfHubHTTPError) as err:
        reader.create_repo(f"{hub.user}/other")
    assert err.value.response.status_code == 403
    assert reader.create_repo(f"{hub.user}/m", exist_ok=True).repo_id == f"{hub.user}/m"  # exists: no error
    member = HfApi().whoami()["orgs"]
    assert {org["name"]: org["roleInOrg"] for org in member} == {"test-org": "admin", "read-org": "read"}
    with pytest.raises(HfHubHTTPError) as err:
        HfApi().create_repo("read-org/m")  # the read role in an organisation: no repo there
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"{hub.user}/m")
    assert err.value.response.status_code == 403


def test_auth_check_reads_and_writes_as_the_tokens_may(hub: HubFixture) -> None:
    """``HfApi.auth_check`` (``GET .../auth-check``, ``.../auth-check/write`` with ``write=True``): passes where the
    token may read (write); a read-only token is refused the write check with 403, a missing repo (or a private one
    without a token) is ``RepositoryNotFoundError``, a rejected token 401."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    HfApi().create_repo(f"{hub.user}/d", repo_type="dataset")
    HfApi().create_repo(f"{hub.user}/secret", repo_type="dataset", private=True)
    HfApi().auth_check(f"{hub.user}/d", repo_type="dataset", write=True)
    HfApi(token=False).auth_check(f"{hub.user}/d", repo_type="dataset")  # public: anyone reads
    reader = HfApi(token="read_token")
    reader.auth_check(f"{hub.user}/d", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:
        reader.auth_check(f"{hub.user}/d", repo_type="dataset", write=True)
    assert err.value.response.status_code == 403 and not isinstance(err.value, RepositoryNotFoundError)
    with pytest.raises(RepositoryNotFoundError):
        HfApi().auth_check(f"{hub.user}/missing", repo_type="dataset", write=True)
    with pytest.raises(RepositoryNotFoundError):
        HfApi().auth_check(f"{hub.user}/d", write=True)  # a model of that name: none
    with pytest.raises(RepositoryNotFoundError):
        HfApi(token=False).auth_check(f"{hub.user}/secret", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(token="invalid_token").auth_check(f"{hub.user}/d", repo_type="dataset", write=True)
    assert err.value.response.status_code == 401


def test_a_readme_with_a_license_off_the_hubs_list_is_refused(hub: HubFixture) -> None:
    """The Hub validates a card's metadata when README.md is pushed, and refuses a ``license`` off its list with
    'Invalid metadata in README.md. - "license" must be one of [...]' (huggingface/huggingface_hub issue #4218); the
    stand-in took any license, so a card the Hub refuses passed every push test."""
    from huggingface_hub import HfApi, ModelCard, ModelCardData

    api = HfApi()
    api.create_repo("tester/lic")
    readme = "---\nlicense: Apache License 2.0\n---\n# card\n"
    with pytest.raises(ValueError, match=re.escape('Invalid metadata in README.md.\n- "license" must be one of')):
        api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id="tester/lic")
    assert api.list_repo_files("tester/lic") == [".gitattributes"]
    with pytest.raises(ValueError, match='"license" must be one of'):  # huggingface_hub's validate-yaml call
        ModelCard.from_template(ModelCardData(license="proprietary"), model_id="lic").push_to_hub("tester/lic")
    for license in ("other", ["mit", "apache-2.0"]):  # the Hub's own ids, one or a list of them
        ModelCard.from_template(ModelCardData(license=license), model_id="lic").push_to_hub("tester/lic")
        assert ModelCard.load("tester/lic").data.license == license
    # a license in another file is no card's metadata
    api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="docs/README.md", repo_id="tester/lic")


def test_a_model_index_result_without_its_required_fields_is_refused(hub: HubFixture) -> None:
    """hub-docs modelcard.md marks a model-index result's ``task.type``, ``dataset.type``, ``dataset.name`` and each
    metric's ``type`` and ``value`` "Required", validated when README.md is pushed; the stand-in took any."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo("tester/idx")
    result = "  - task: {type: text-classification}\n    dataset: {name: fin}\n    metrics: [{type: accuracy}]\n"
    readme = f"---\nmodel-index:\n- name: idx\n  results:\n{result}---\n# card\n"
    with pytest.raises(ValueError) as caught:
        api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id="tester/idx")
    assert '"model-index[0].results[0].dataset.type" is required' in str(caught.value)
    assert '"model-index[0].results[0].metrics[0].value" is required' in str(caught.value)
    assert api.list_repo_files("tester/idx") == [".gitattributes"]
    whole = result.replace("{name: fin}", "{name: fin, type: me/fin}").replace("accuracy}", "accuracy, value: 0.5}")
    api.upload_file(
        path_or_fileobj=readme.replace(result, whole).encode(), path_in_repo="README.md", repo_id="tester/idx"
    )
    assert "README.md" in api.list_repo_files("tester/idx")
