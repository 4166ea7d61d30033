"""Repository storage of the Hub stand-in: plain files under one root folder.

Layout::

    root/objects/<sha256>                     every file body ever committed or LFS-uploaded
    root/<models|datasets|spaces>/<ns>/<name>/repo.json
        {"private", "sdk", "created_at", "branches": {name: oid}, "tags": {name: oid},
         "commits": {oid: {"parent", "title", "message", "date", "files": {path: Entry}}}}

An entry is ``{"sha256", "size", "git_oid", "lfs"}``: every commit keeps a full snapshot of the tree, so any
commit oid (not just a branch head) can be resolved, as transformers does after its first metadata call.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_TYPES = ("model", "dataset", "space")
GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
# Extensions the Hub's default .gitattributes sends to LFS; binary content goes there too (see `wants_lfs`).
LFS_SUFFIXES = [
    ".bin",
    ".safetensors",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".onnx",
    ".gguf",
    ".msgpack",
    ".pkl",
    ".pickle",
    ".npy",
    ".npz",
    ".zip",
    ".gz",
    ".tar",
    ".zst",
    ".arrow",
    ".parquet",
    ".model",
    ".joblib",
    ".tflite",
    ".ot",
    ".png",
    ".jpg",
    ".jpeg",
    ".wav",
    ".mp3",
]
LFS_MIN_SIZE = 10 * 1024 * 1024


class HubError(Exception):
    """An HTTP error the server answers with: status, `X-Error-Code` and a message."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def now_iso() -> str:
    """The current UTC time in the Hub's format (``2024-01-31T12:00:00.000Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1 of `data` (what the Hub returns as a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands for an LFS file in git."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def wants_lfs(path: str, sample: bytes, size: int) -> bool:
    """Whether the Hub would store this file in LFS: known binary suffix, large, or binary-looking sample."""
    if size == 0:
        return False
    if path.lower().endswith(tuple(LFS_SUFFIXES)) or size >= LFS_MIN_SIZE or b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start < len(sample) - 4  # a multi-byte character cut by the 512-byte sample is still text
    return False


@dataclass
class Repo:
    """One repository: its refs and its commits with full tree snapshots."""

    repo_type: str
    repo_id: str
    private: bool = False
    sdk: str | None = None
    created_at: str = field(default_factory=now_iso)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The dict written to ``repo.json``."""
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "private": self.private,
            "sdk": self.sdk,
            "created_at": self.created_at,
            "branches": self.branches,
            "tags": self.tags,
            "commits": self.commits,
        }

    def resolve(self, revision: str) -> str:
        """The commit oid for a branch, tag, ``refs/heads/x``, ``refs/pr/n`` or (a prefix of) a commit oid."""
        name = revision.removeprefix("refs/heads/").removeprefix("refs/tags/")
        for refs in (self.branches, self.tags):
            if name in refs:
                return refs[name]
        if len(revision) >= 7:
            matches = [oid for oid in self.commits if oid.startswith(revision.lower())]
            if len(matches) == 1:
                return matches[0]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def files(self, revision: str) -> dict[str, dict[str, Any]]:
        """The tree snapshot (path -> entry) at `revision`."""
        return self.commits[self.resolve(revision)]["files"]

    def history(self, revision: str) -> list[str]:
        """Commit oids from `revision` back to the first commit."""
        oids: list[str] = []
        oid: str | None = self.resolve(revision)
        while oid is not None:
            oids.append(oid)
            oid = self.commits[oid]["parent"]
        return oids

    def last_commit(self, revision: str, path: str) -> dict[str, Any]:
        """The newest commit at or before `revision` that changed `path` (a file, or anything below a folder)."""
        oids = self.history(revision)

        def view(oid: str) -> Any:
            files = self.commits[oid]["files"]
            if path in files:
                return files[path]
            return {p: e for p, e in files.items() if p.startswith(path + "/")}

        for index, oid in enumerate(oids):
            parent = oids[index + 1] if index + 1 < len(oids) else None
            if parent is None or view(parent) != view(oid):
                commit = self.commits[oid]
                return {"id": oid, "title": commit["title"], "date": commit["date"]}
        raise HubError(404, f"{path} not found", "EntryNotFound")


class Store:
    """All repositories and LFS objects under `root`; thread-safe (one lock around every change)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._counter = 0

    # -- objects -------------------------------------------------------------------------------------------
    def put_object(self, data: bytes) -> str:
        """Store `data` by its sha256 and return the hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.objects / digest
        if not target.exists():
            tmp = target.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_bytes(data)
            tmp.replace(target)
        return digest

    def has_object(self, sha256: str, size: int | None = None) -> bool:
        """Whether an object with this sha256 (and size, when given) is stored."""
        path = self.objects / sha256
        return path.is_file() and (size is None or path.stat().st_size == size)

    def read_object(self, sha256: str) -> bytes:
        """The bytes of a stored object."""
        return (self.objects / sha256).read_bytes()

    # -- repos ---------------------------------------------------------------------------------------------
    def _repo_file(self, repo_type: str, repo_id: str) -> Path:
        return self.root / f"{repo_type}s" / repo_id / "repo.json"

    def get(self, repo_type: str, repo_id: str) -> Repo:
        """The repository, or a 404 ``RepoNotFound``."""
        path = self._repo_file(repo_type, repo_id)
        if repo_type not in REPO_TYPES or repo_id.count("/") != 1 or not path.is_file():
            raise HubError(404, f"Repository not found: {repo_type} {repo_id}", "RepoNotFound")
        data = json.loads(path.read_text(encoding="utf-8"))
        return Repo(**data)

    def repo_ids(self, repo_type: str) -> list[str]:
        """Sorted ids of the repositories of one type."""
        folder = self.root / f"{repo_type}s"
        return sorted(str(p.parent.relative_to(folder)) for p in folder.glob("*/*/repo.json"))

    def exists(self, repo_type: str, repo_id: str) -> bool:
        """Whether the repository exists."""
        return self._repo_file(repo_type, repo_id).is_file()

    def save(self, repo: Repo) -> None:
        """Write ``repo.json`` atomically."""
        path = self._repo_file(repo.repo_type, repo.repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{threading.get_ident()}")
        tmp.write_text(json.dumps(repo.to_json(), indent=1), encoding="utf-8")
        tmp.replace(path)

    def create(self, repo_type: str, repo_id: str, *, private: bool, sdk: str | None) -> Repo:
        """A new repository with one commit holding ``.gitattributes`` (as the Hub does); 409 when it exists."""
        with self.lock:
            if self.exists(repo_type, repo_id):
                raise HubError(409, f"You already created this {repo_type} repo: {repo_id}")
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, sdk=sdk)
            self.commit(repo, "main", {".gitattributes": self.entry(GITATTRIBUTES, lfs=False)}, "initial commit", "")
            return repo

    def delete(self, repo_type: str, repo_id: str) -> None:
        """Remove a repository (its objects stay: they may be shared)."""
        with self.lock:
            path = self._repo_file(repo_type, repo_id)
            if not path.is_file():
                raise HubError(404, f"Repository not found: {repo_type} {repo_id}", "RepoNotFound")
            path.unlink()

    def move(self, repo_type: str, src: str, dst: str) -> None:
        """Rename a repository; 409 when the target exists."""
        with self.lock:
            repo = self.get(repo_type, src)
            if self.exists(repo_type, dst):
                raise HubError(409, f"Repository {dst} already exists")
            self.delete(repo_type, src)
            repo.repo_id = dst
            self.save(repo)

    def entry(self, data: bytes, *, lfs: bool) -> dict[str, Any]:
        """Store `data` and return its tree entry."""
        sha256 = self.put_object(data)
        return self.lfs_entry(sha256, len(data)) if lfs else self._regular_entry(sha256, data)

    @staticmethod
    def _regular_entry(sha256: str, data: bytes) -> dict[str, Any]:
        return {"sha256": sha256, "size": len(data), "git_oid": git_blob_oid(data), "lfs": False}

    def lfs_entry(self, sha256: str, size: int) -> dict[str, Any]:
        """The tree entry of an LFS file whose object is already stored."""
        return {"sha256": sha256, "size": size, "git_oid": git_blob_oid(lfs_pointer(sha256, size)), "lfs": True}

    def commit(self, repo: Repo, branch: str, files: dict[str, dict[str, Any]], title: str, message: str) -> str:
        """Add a commit with the tree `files` on top of `branch` (created when new) and save the repo."""
        with self.lock:
            parent = repo.branches.get(branch)
            self._counter += 1
            seed = json.dumps([repo.repo_id, parent, files, title, message, time.time_ns(), self._counter])
            oid = hashlib.sha1(seed.encode()).hexdigest()
            repo.commits[oid] = {
                "parent": parent,
                "title": title,
                "message": message,
                "date": now_iso(),
                "files": files,
            }
            repo.branches[branch] = oid
            self.save(repo)
            return oid
