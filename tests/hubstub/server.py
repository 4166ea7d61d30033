"""HTTP front of the Hub stand-in: routes the Hub's REST, LFS and resolve URLs to a `Store`.

Only what huggingface_hub 2.x, datasets 5.x and transformers 5.x call for create / upload / download / list is
served; anything else answers 404 with a message naming the route, so a missing route shows up in test output.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import yaml

from .endpoints import ENDPOINTS_PREFIX, Endpoints
from .store import HubError, Repo, Store, lfs_pointer, wants_lfs

USER = "tester"
ORGS = ("test-org",)
# an organisation the user is a member of with the "read" role (whoami's orgs[].roleInOrg, huggingface_hub
# src/huggingface_hub/_oauth.py OAuthOrgInfo.role_in_org, commit ee0a4510f4bc15e26cb722be2efc2bdb01383ca0): listed,
# but creating a repo there answers 403 as in a namespace that is not the user's
READ_ORGS = ("read-org",)
PREFIXES = {"datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)
# The Hub pages ``GET /api/{type}s/{id}/tree/{revision}[/{path}]``: "pagination is capped by the Hub (1000 entries per
# page, 50 when `expand=True`) and is cursor-based" (huggingface_hub 2.4.0 as installed, hf_api.py
# HfApi._iter_repo_tree_pages; the same figures in hf_file_system.py _ParallelRepoTreeListing). The client follows
# "the same 'Link' header format as GitHub" (utils/_pagination.py _paginate_pages: ``response.links["next"]["url"]``)
# and sends no params with the next URL ("Next link already contains query params"), so the link carries recursive
# and expand again. The same loop is in huggingface.js packages/hub/src/lib/list-files.ts (commit
# 11cbc805baed574747aee2f9c5b513f9d5d08616: ``parseLinkHeader(res.headers.get("Link")).next``) and
# huggingface_hub_rust hf_hub/src/pagination.rs (commit b29b78a0cde5900f7141aa2d98b4078fd848ac2d, format
# ``<https://huggingface.co/api/models?p=1>; rel="next"``). Not confirmed by any of these sources, so chosen here:
# the query parameter's name ``cursor`` (seen only in third-party fakes of the Hub), what a cursor holds (here an
# opaque base64 key: the next page starts after the last entry served), the link's absolute form, that the last page
# has no next link rather than an empty page after it, and the 400 answer to a cursor the stub did not make.
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPAND = 50


# The Hub validates a card's metadata when README.md is pushed ("Properties will be validated by the Hub when git
# pushing changes to your README.md file": huggingface/hub-docs modelcard.md, commit
# 242f4a1eeb867daf4ac3f44026a5df4a68908a3d) and refuses a license off its list, one id or a list of them, as
# 'Invalid metadata in README.md.\n- "license" must be one of [apache-2.0, ..., other, array]' (huggingface/
# huggingface_hub issue #4218, from the Hub's answer). The ids: hub-docs docs/hub/repositories-licenses.md, the table
# between its "region licenses" comments, at commit fd6cf1f56e1514af08c5a7262d9f79b3becb810d. Checked here: the
# license only (the stand-in does not know the Hub's other metadata rules), at ``validate-yaml``, which huggingface_hub
# asks before every commit that adds README.md (hf_api.py ``create_commit`` and ``upload_folder``, 2.5.0 as installed).
# The stand-in's own copy of the list, not sxhub.licenses.HUB_LICENSES: one imported from sxhub would only agree with sxhub.
HUB_LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openmdw-1.1", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr",
    "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2",
    "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)  # fmt: skip


def metadata_errors(content: str) -> list[str]:
    """What the Hub says of a README's YAML front matter: its errors (none for a README without one)."""
    match = FRONT_MATTER.match(content)
    try:
        meta = yaml.safe_load(match.group(1)) if match else {}
    except yaml.YAMLError as err:
        return [f"Invalid YAML: {err}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["Metadata must be a YAML mapping"]
    errors = []
    license = meta.get("license")
    if license is not None:
        ids = license if isinstance(license, list) else [license]
        if not ids or not all(isinstance(i, str) and i in HUB_LICENSES for i in ids):
            errors.append(f'"license" must be one of [{", ".join(HUB_LICENSES)}, array]')
    return errors + model_index_errors(meta.get("model-index"))


# A model-index result's required fields: "Required" in hub-docs modelcard.md (commit
# 242f4a1eeb867daf4ac3f44026a5df4a68908a3d), whose properties "will be validated by the Hub when git pushing".
MODEL_INDEX_REQUIRED = (("task", "type"), ("dataset", "type"), ("dataset", "name"))


def model_index_errors(index: Any) -> list[str]:
    """What is missing from a card's ``model-index`` (the words are the stand-in's; the Hub's are not published)."""
    if index is None:
        return []
    if not isinstance(index, list) or not all(isinstance(m, dict) for m in index):
        return ['"model-index" must be an array of objects']
    errors = []
    for i, model in enumerate(index):
        for j, result in enumerate(model.get("results") or []):
            where = f"model-index[{i}].results[{j}]"
            for block, key in MODEL_INDEX_REQUIRED:
                if not isinstance(result.get(block), dict) or result[block].get(key) in (None, ""):
                    errors.append(f'"{where}.{block}.{key}" is required')
            metrics = result.get("metrics")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f'"{where}.metrics" must be a non-empty array')
                continue
            for k, metric in enumerate(metrics):
                for key in ("type", "value"):
                    if not isinstance(metric, dict) or metric.get(key) in (None, ""):
                        errors.append(f'"{where}.metrics[{k}].{key}" is required')
    return errors


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def card_data(repo: Repo, files: dict[str, dict[str, Any]], store: Store) -> dict[str, Any] | None:
    """The YAML front matter of README.md, as the Hub's ``cardData``."""
    entry = files.get("README.md")
    if entry is None:
        return None
    match = FRONT_MATTER.match(store.read_object(entry["sha256"]).decode("utf-8", errors="replace"))
    if match is None:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None


class Handler(BaseHTTPRequestHandler):
    """One request: parse, dispatch by path shape, answer JSON or bytes."""

    protocol_version = "HTTP/1.1"
    server: HubServer

    # -- plumbing --------------------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        self.server.requests.append(f"{self.command} {self.path}")

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._body: bytes | None = None
        split = urlsplit(self.path)
        self.url_path = split.path
        self.query = parse_qs(split.query)
        segments = [s for s in split.path.split("/") if s]  # still percent-encoded: revisions hold %2F
        try:
            self._route(segments)
        except HubError as err:
            self._error(err)
        finally:
            self.body()  # drain an unread body so the keep-alive connection stays in sync

    def body(self) -> bytes:
        """The request body (Content-Length or chunked), read once."""
        if self._body is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                self._body = b"".join(chunks)
            else:
                self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._body

    def json_body(self) -> Any:
        """The request body parsed as JSON (400 when it is not)."""
        try:
            return json.loads(self.body() or b"{}")
        except json.JSONDecodeError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from err

    def send(self, status: int, data: bytes, headers: dict[str, str] | None = None, ctype: str = "") -> None:
        """Answer with `data` (no body for HEAD, Content-Length always set)."""
        self.send_response(status)
        self.send_header("Content-Type", ctype or "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(obj).encode(), headers, "application/json")

    def _error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message.replace("\n", " ")}
        if err.code:
            headers["X-Error-Code"] = err.code
        self.send_json({"error": err.message}, err.status, headers)

    def token(self, *, required: bool, write: bool = False) -> str | None:
        """The Bearer token; 401 when missing on a write route or when it starts with ``invalid``. A token starting
        with ``read`` is a read-only token: a route that writes (``write``) answers 403, as the Hub answers a token
        without write permission on the namespace (huggingface_hub ``src/huggingface_hub/hf_api.py`` ``create_repo``,
        commit ee0a4510f4bc15e26cb722be2efc2bdb01383ca0, and 2.4.0 as installed: "403 -> if no write permission on the
        namespace", after which it checks whether the repo exists)."""
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if token and token.startswith("invalid"):
            raise HubError(401, "Invalid credentials in Authorization header")
        if required and not token:
            raise HubError(401, "Invalid credentials in Authorization header")
        if write and token and token.startswith("read"):
            raise HubError(403, "You don't have the rights to write to this namespace: the token is read-only")
        return token

    @property
    def base(self) -> str:
        return self.server.url

    # -- routing ---------------------------------------------------------------------------------------------
    def no_route(self) -> HubError:
        """A 404 naming the unserved route; also logged in `HubStub.unrouted` for tests to inspect."""
        self.server.unrouted.append(f"{self.command} {self.path}")
        return HubError(404, f"Hub stub has no route for {self.command} {self.path}")

    def _route(self, seg: list[str]) -> None:
        if seg[:1] == ["api"]:
            self._route_api(seg[1:])
        elif seg[:2] == ENDPOINTS_PREFIX:  # the Inference Endpoints API (tests/hubstub/endpoints.py)
            self.server.endpoints.route(self, seg[2:])
        elif seg[:2] == ["_stub", "lfs"] and len(seg) == 3 and self.command == "PUT":
            self.lfs_put(seg[2])
        elif seg == ["_stub", "lfs", "verify"] and self.command == "POST":
            self.lfs_verify()
        else:
            repo_type = PREFIXES.get(seg[0], "model") if seg else "model"
            rest = seg[1:] if seg and seg[0] in PREFIXES else seg
            if len(rest) >= 3 and rest[1].endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"]:
                self.lfs_batch(repo_type, f"{rest[0]}/{rest[1][:-4]}")
            elif len(rest) >= 4 and rest[1] == "resolve":  # a canonical id such as "gpt2": none is stored
                raise HubError(404, f"Repository not found: {unquote(rest[0])}", "RepoNotFound")
            elif len(rest) >= 5 and rest[2] == "resolve":
                self.resolve(repo_type, f"{rest[0]}/{rest[1]}", unquote(rest[3]), unquote("/".join(rest[4:])))
            else:
                raise self.no_route()

    def _route_api(self, seg: list[str]) -> None:
        simple = {
            ("GET", "whoami-v2"): self.whoami,
            ("POST", "validate-yaml"): self.validate_yaml,
            ("POST", "repos/create"): self.create_repo,
            ("DELETE", "repos/delete"): self.delete_repo,
            ("POST", "repos/move"): self.move_repo,
        }
        handler = simple.get((self.command, "/".join(seg)))
        if handler is not None:
            handler()
            return
        if self.command == "GET" and len(seg) == 1 and seg[0] in ("models", "datasets", "spaces"):
            self.list_repos(seg[0][:-1])
            return
        if len(seg) == 2 and seg[0] in ("models", "datasets", "spaces"):  # a canonical id such as "gpt2"
            raise HubError(404, f"Repository not found: {unquote(seg[1])}", "RepoNotFound")
        if len(seg) < 3 or seg[0] not in ("models", "datasets", "spaces"):
            raise self.no_route()
        repo_type, repo_id, action, args = seg[0][:-1], f"{seg[1]}/{seg[2]}", seg[3:4], seg[4:]
        repo = self.server.store.get(repo_type, repo_id)
        if repo.private and self.token(required=False) is None:
            raise HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")
        name = action[0] if action else ""
        rev = unquote(args[0]) if args else "main"
        routes = {
            ("GET", ""): lambda: self.repo_info(repo, "main"),
            ("HEAD", ""): lambda: self.repo_info(repo, "main"),
            ("GET", "revision"): lambda: self.repo_info(repo, rev),
            ("GET", "auth-check"): lambda: self.auth_check(repo, args),
            ("POST", "preupload"): lambda: self.preupload(repo, rev),
            ("POST", "commit"): lambda: self.commit(repo, rev),
            ("GET", "tree"): lambda: self.tree(repo, rev, unquote("/".join(args[1:]))),
            ("POST", "paths-info"): lambda: self.paths_info(repo, rev),
            ("GET", "refs"): lambda: self.refs(repo),
            ("GET", "commits"): lambda: self.list_commits(repo, rev),
            ("PUT", "settings"): lambda: self.settings(repo),
            ("POST", "branch"): lambda: self.create_ref(repo, repo.branches, rev),
            ("DELETE", "branch"): lambda: self.delete_ref(repo, repo.branches, rev),
            ("POST", "tag"): lambda: self.create_ref(repo, repo.tags, rev),
            ("DELETE", "tag"): lambda: self.delete_ref(repo, repo.tags, rev),
        }
        route = routes.get((self.command, name))
        if route is None:
            raise self.no_route()
        route()

    # -- account and repos -------------------------------------------------------------------------------------
    def whoami(self) -> None:
        token = self.token(required=True)
        orgs = [{"type": "org", "name": org, "fullname": org, "roleInOrg": "admin"} for org in ORGS]
        orgs += [{"type": "org", "name": org, "fullname": org, "roleInOrg": "read"} for org in READ_ORGS]
        auth = {
            "type": "access_token",
            "accessToken": {
                "displayName": "hub-stub",
                "role": "read" if token and token.startswith("read") else "write",
            },
        }
        self.send_json({"type": "user", "name": USER, "fullname": "Test User", "orgs": orgs, "auth": auth})

    def validate_yaml(self) -> None:
        """``POST /api/validate-yaml`` (huggingface_hub ``RepoCard.validate``): 400 with the errors, as text when
        asked (``Accept: text/plain``, as ``RepoCard.validate`` asks)."""
        errors = metadata_errors(self.json_body().get("content", ""))
        if not errors:
            self.send_json({"errors": [], "warnings": []})
        elif "text/plain" in self.headers.get("Accept", ""):
            text = "Invalid metadata in README.md.\n" + "\n".join(f"- {e}" for e in errors)
            self.send(400, text.encode(), None, "text/plain; charset=utf-8")
        else:
            self.send_json({"errors": [{"message": e} for e in errors]}, 400)

    def _namespaced(self, name: str, organization: str | None) -> str:
        namespace = organization or USER
        if namespace not in (USER, *ORGS):
            raise HubError(403, f"You don't have the rights to create a repo under the namespace {namespace}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name or ""):
            raise HubError(400, f"Invalid repo name: {name!r}")
        return f"{namespace}/{name}"

    def create_repo(self) -> None:
        self.token(required=True, write=True)
        body = self.json_body()
        repo_type = body.get("type") or "model"
        repo_id = self._namespaced(body.get("name", ""), body.get("organization"))
        if repo_type == "space" and not body.get("sdk"):
            raise HubError(400, "Space SDK is required")
        url = f"{self.base}/{URL_PREFIX[repo_type]}{repo_id}"
        private = body.get("visibility") == "private" or bool(body.get("private"))
        try:
            self.server.store.create(repo_type, repo_id, private=private, sdk=body.get("sdk"))
        except HubError as err:
            if err.status == 409:
                self.send_json({"error": err.message, "url": url}, 409, {"X-Error-Message": err.message})
                return
            raise
        self.send_json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self) -> None:
        self.token(required=True, write=True)
        body = self.json_body()
        self.server.store.delete(body.get("type") or "model", self._namespaced(body["name"], body.get("organization")))
        self.send_json({})

    def move_repo(self) -> None:
        self.token(required=True, write=True)
        body = self.json_body()
        self.server.store.move(body.get("type") or "model", body["fromRepo"], body["toRepo"])
        self.send_json({})

    def settings(self, repo: Repo) -> None:
        """``PUT /api/{type}s/{id}/settings``, as huggingface_hub 2.4.0 ``hf_api.py`` ``update_repo_settings`` sends
        it: ``{"visibility": "private"|"public", "gated": ...}`` (``private=`` is sent as ``visibility``)."""
        self.token(required=True, write=True)
        body = self.json_body()
        with self.server.store.lock:
            repo = self.server.store.get(repo.repo_type, repo.repo_id)
            if "private" in body:
                repo.private = bool(body["private"])
            if "visibility" in body:
                repo.private = body["visibility"] == "private"
            self.server.store.save(repo)
        self.send_json({})

    def list_repos(self, repo_type: str) -> None:
        """``GET /api/models?author=&search=``: the public (or, with a token, all) repos, as short infos."""
        author = self.query.get("author", [""])[0]
        search = self.query.get("search", [""])[0]
        authed = self.token(required=False) is not None
        infos = []
        for repo_id in self.server.store.repo_ids(repo_type):
            repo = self.server.store.get(repo_type, repo_id)
            if (repo.private and not authed) or (author and not repo_id.startswith(author + "/")):
                continue
            if search in repo_id:
                infos.append(self._info(repo, "main"))
        self.send_json(infos)

    def auth_check(self, repo: Repo, args: list[str]) -> None:
        """``GET /api/{type}s/{id}/auth-check[/write]``, as huggingface_hub 2.4.0 (as installed) ``hf_api.py``
        ``HfApi.auth_check`` sends it (``write=True`` adds ``/write``) and reads the answer: any 2xx is access
        (``hf_raise_for_status`` only), a 404 ``RepoNotFound`` (``X-Error-Code``) is ``RepositoryNotFoundError``
        ("Raised if the repository does not exist, is private, or the user does not have access", its docstring; the
        ``_route_api`` lookup above answers it for a missing repo, and for a private one without a token). The same
        client code is at commit ee0a4510f4bc15e26cb722be2efc2bdb01383ca0 (``/write`` since c837937b5, PR #3776).
        Chosen here, not confirmed by those sources: the body (``{}``), and that the write check refuses a token with
        no write permission as the stand-in's write routes do (401 without a token or with an ``invalid`` one, 403
        for a read-only one; the 403 of a read-only token is what ``hf_api.py`` documents for the access-request
        routes: "HTTP 403 if you only have read-only access to the repo. This can be the case if you don't have `write` or
        `admin` role in the organization the repo belongs to or if you passed a `read` token")."""
        if args not in ([], ["write"]):
            raise self.no_route()
        write = args == ["write"]
        self.token(required=write, write=write)
        self.send_json({})

    def repo_info(self, repo: Repo, revision: str) -> None:
        self.send_json(self._info(repo, revision))

    def _info(self, repo: Repo, revision: str) -> dict[str, Any]:
        """The Hub's repo info dict at `revision`: sha, siblings, cardData, private, lastModified ..."""
        oid = repo.resolve(revision)
        files = repo.commits[oid]["files"]
        card = card_data(repo, files, self.server.store)
        namespace = repo.repo_id.split("/")[0]
        info: dict[str, Any] = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": namespace,
            "sha": oid,
            "lastModified": repo.commits[oid]["date"],
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": list((card or {}).get("tags") or []),
            "siblings": [self._sibling(path, entry) for path, entry in sorted(files.items())],
            "usedStorage": sum(entry["size"] for entry in files.values()),
        }
        if card is not None:
            info["cardData"] = card
            for key in ("library_name", "pipeline_tag"):
                if key in card:
                    info[key] = card[key]
        if repo.repo_type == "space":
            info.update(sdk=repo.sdk, subdomain=repo.repo_id.replace("/", "-"), runtime=None)
        return info

    @staticmethod
    def _sibling(path: str, entry: dict[str, Any]) -> dict[str, Any]:
        sibling: dict[str, Any] = {"rfilename": path, "size": entry["size"], "blobId": entry["git_oid"]}
        if entry["lfs"]:
            sibling["lfs"] = {"size": entry["size"], "sha256": entry["sha256"], "pointerSize": _pointer_size(entry)}
        return sibling

    def refs(self, repo: Repo) -> None:
        def ref(kind: str, name: str, oid: str) -> dict[str, str]:
            full = name if name.startswith("refs/") else f"refs/{kind}/{name}"
            return {"name": name, "ref": full, "targetCommit": oid}

        branches = [ref("heads", n, o) for n, o in repo.branches.items() if not n.startswith("refs/pr/")]
        prs = [ref("pr", n, o) for n, o in repo.branches.items() if n.startswith("refs/pr/")]
        tags = [ref("tags", n, o) for n, o in repo.tags.items()]
        self.send_json({"branches": branches, "converts": [], "tags": tags, "pullRequests": prs})

    def list_commits(self, repo: Repo, revision: str) -> None:
        commits = []
        for oid in repo.history(revision):
            commit = repo.commits[oid]
            commits.append(
                {
                    "id": oid,
                    "authors": [{"user": USER}],
                    "date": commit["date"],
                    "title": commit["title"],
                    "message": commit["message"],
                }
            )
        self.send_json(commits)

    def create_ref(self, repo: Repo, refs: dict[str, str], name: str) -> None:
        """``POST .../branch/{name}`` and ``.../tag/{revision}``, as huggingface_hub 2.4.0 ``hf_api.py``
        ``create_branch`` / ``create_tag`` send them; an existing name is 409, which ``create_branch(exist_ok=True)``
        takes as done."""
        self.token(required=True, write=True)
        body = self.json_body()
        is_tag = refs is repo.tags
        with self.server.store.lock:
            repo = self.server.store.get(repo.repo_type, repo.repo_id)
            refs = repo.tags if is_tag else repo.branches
            if is_tag:  # POST /tag/{revision} {"tag": name}
                target, name = repo.resolve(name), body["tag"]
            else:  # POST /branch/{name} {"startingPoint": rev}
                target = repo.resolve(body.get("startingPoint") or "main")
            if name in refs and not body.get("overwrite"):
                raise HubError(409, f"Reference already exists: {name}")
            refs[name] = target
            self.server.store.save(repo)
        self.send_json({})

    def delete_ref(self, repo: Repo, refs: dict[str, str], name: str) -> None:
        self.token(required=True, write=True)
        is_tag = refs is repo.tags
        with self.server.store.lock:
            repo = self.server.store.get(repo.repo_type, repo.repo_id)
            refs = repo.tags if is_tag else repo.branches
            if refs.pop(name, None) is None:
                raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
            self.server.store.save(repo)
        self.send_json({})

    # -- upload ------------------------------------------------------------------------------------------------
    @staticmethod
    def writable(repo_id: str) -> None:
        """A write to a repo outside the user's namespaces answers 403, as the Hub answers a push to another user's
        repo (huggingface_hub's ``create_repo(exist_ok=True)`` then passes, since the repo exists: the commit fails)."""
        if repo_id.split("/", 1)[0] not in (USER, *ORGS):
            raise HubError(403, f"You don't have the rights to write to {repo_id}")

    def preupload(self, repo: Repo, revision: str) -> None:
        self.token(required=True, write=True)
        self.writable(repo.repo_id)
        try:
            files = repo.files(revision)
        except HubError:
            files = repo.files("main")  # committing to a branch that does not exist yet is allowed
        answers = []
        for item in self.json_body().get("files", []):
            sample = base64.b64decode(item.get("sample", ""))
            lfs = wants_lfs(item["path"], sample, int(item.get("size", 0)))
            mode = "lfs" if lfs else "regular"
            old = files.get(item["path"])
            oid = None
            if old is not None and old["lfs"] == lfs:
                oid = old["sha256"] if lfs else old["git_oid"]
            answers.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self.send_json({"files": answers, "commitOid": repo.resolve("main")})

    def commit(self, repo: Repo, revision: str) -> None:
        self.token(required=True, write=True)
        self.writable(repo.repo_id)
        failure = self.server.failing_commits.get((repo.repo_type, repo.repo_id))
        if failure is not None:
            raise failure
        store = self.server.store
        lines = [json.loads(line) for line in self.body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        with store.lock:
            repo = store.get(repo.repo_type, repo.repo_id)  # re-read under the lock: commits are serialised
            branch = revision.removeprefix("refs/heads/")
            if _flag(self.query.get("create_pr", [None])[0]):
                number = 1 + sum(1 for name in repo.branches if name.startswith("refs/pr/"))
                repo.branches[f"refs/pr/{number}"] = repo.resolve(branch)
                branch = f"refs/pr/{number}"
            elif branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            head = repo.branches[branch]
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubError(412, f"A commit has happened since. Please refresh and try again ({parent} != {head}).")
            files = dict(repo.commits[head]["files"])
            for line in lines[1:]:
                self._apply(files, line["key"], line["value"])
            oid = store.commit(repo, branch, files, header.get("summary", ""), header.get("description", ""))
        url = f"{self.base}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"
        pr_url = f"{url}/discussions/{branch.rsplit('/', 1)[-1]}" if branch.startswith("refs/pr/") else None
        self.send_json(
            {"success": True, "commitOid": oid, "commitUrl": f"{url}/commit/{oid}", "pullRequestUrl": pr_url}
        )

    def _apply(self, files: dict[str, dict[str, Any]], key: str, value: dict[str, Any]) -> None:
        """Apply one commit operation to the tree `files`."""
        store = self.server.store
        path = value["path"]
        if key == "file":
            data = (
                base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"].encode()
            )
            files[path] = store.entry(data, lfs=False)
        elif key == "lfsFile":
            if not store.has_object(value["oid"], value.get("size")):
                raise HubError(422, f"LFS object {value['oid']} for {path} was never uploaded")
            size = value.get("size") or (store.objects / value["oid"]).stat().st_size
            files[path] = store.lfs_entry(value["oid"], size)
        elif key == "deletedFile":
            if files.pop(path, None) is None:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
        elif key == "deletedFolder":
            prefix = path.rstrip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)]
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for doomed_path in doomed:
                del files[doomed_path]
        else:
            raise HubError(400, f"Hub stub does not support commit operation {key!r}")

    def lfs_batch(self, repo_type: str, repo_id: str) -> None:
        self.token(required=True, write=True)
        self.server.store.get(repo_type, repo_id)
        body = self.json_body()
        if body.get("operation") != "upload":
            raise HubError(400, f"Hub stub only supports LFS uploads, not {body.get('operation')!r}")
        objects = []
        for obj in body.get("objects", []):
            answer: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if not self.server.store.has_object(obj["oid"], obj["size"]):
                href = f"{self.base}/_stub/lfs/{obj['oid']}"
                answer["actions"] = {"upload": {"href": href}, "verify": {"href": f"{self.base}/_stub/lfs/verify"}}
            objects.append(answer)
        self.send_json(
            {"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"}
        )

    def lfs_put(self, oid: str) -> None:
        data = self.body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"Uploaded content does not match LFS oid {oid}")
        self.server.store.put_object(data)
        self.send(200, b"")

    def lfs_verify(self) -> None:
        body = self.json_body()
        if not self.server.store.has_object(body.get("oid", ""), body.get("size")):
            raise HubError(404, f"LFS object {body.get('oid')} not found or wrong size")
        self.send_json({"success": True})

    # -- listing and download ------------------------------------------------------------------------------------
    def _tree_entry(self, repo: Repo, revision: str, path: str, files: dict[str, Any], expand: bool) -> dict[str, Any]:
        entry = files.get(path)
        if entry is None:  # a folder
            listing = sorted((p, e["git_oid"]) for p, e in files.items() if p.startswith(path + "/"))
            item: dict[str, Any] = {"type": "directory", "oid": hashlib.sha1(repr(listing).encode()).hexdigest()}
            item["path"] = path
        else:
            item = {"type": "file", "oid": entry["git_oid"], "size": entry["size"], "path": path}
            if entry["lfs"]:
                item["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": _pointer_size(entry)}
        if expand:
            item["lastCommit"] = repo.last_commit(revision, path)
        return item

    def tree(self, repo: Repo, revision: str, path: str) -> None:
        """One page of the listing, ordered folders first then by path; a ``Link: <...>; rel="next"`` header while
        entries are left (see ``TREE_PAGE_SIZE`` for what the Hub does and what the stub chose)."""
        files = repo.files(revision)
        recursive = _flag(self.query.get("recursive", [None])[0])
        expand = _flag(self.query.get("expand", [None])[0])
        folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
        if path and path not in folders:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        prefix = path + "/" if path else ""
        names = sorted(p for p in (*folders, *files) if p.startswith(prefix))
        if not recursive:
            names = [p for p in names if "/" not in p[len(prefix) :]]
        keys = sorted((p in files, p) for p in names)  # folders first, as the stub always listed them
        cursor = self.query.get("cursor", [None])[0]
        start = bisect.bisect_right(keys, _cursor_key(cursor)) if cursor is not None else 0
        size = self.server.tree_page_size_expand if expand else self.server.tree_page_size
        page = keys[start : start + size]
        headers: dict[str, str] = {}
        if start + size < len(keys):
            query = {k: v for k, v in self.query.items() if k != "cursor"} | {"cursor": [_make_cursor(page[-1])]}
            headers["Link"] = f'<{self.base}{self.url_path}?{urlencode(query, doseq=True)}>; rel="next"'
        self.send_json([self._tree_entry(repo, revision, p, files, expand) for _, p in page], headers=headers)

    def paths_info(self, repo: Repo, revision: str) -> None:
        if "json" in self.headers.get("Content-Type", ""):
            body = self.json_body()
            paths, expand = body.get("paths", []), bool(body.get("expand"))
        else:
            form = parse_qs(self.body().decode())
            paths, expand = form.get("paths", []), _flag(form.get("expand", [None])[0])
        files = repo.files(revision)
        folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
        found = [p.strip("/") for p in paths if p.strip("/") in files or p.strip("/") in folders]
        self.send_json([self._tree_entry(repo, revision, p, files, expand) for p in found])

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        store = self.server.store
        repo = store.get(repo_type, repo_id)
        if repo.private and self.token(required=False) is None:
            raise HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")
        oid = repo.resolve(revision)
        entry = repo.commits[oid]["files"].get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        headers = {"X-Repo-Commit": oid, "Accept-Ranges": "bytes", "ETag": f'"{entry["git_oid"]}"'}
        if entry["lfs"]:
            headers.update({"X-Linked-Etag": f'"{entry["sha256"]}"', "X-Linked-Size": str(entry["size"])})
            headers["ETag"] = f'"{entry["sha256"]}"'
        data = store.read_object(entry["sha256"])
        status, data = self._range(data, headers)
        self.send(status, data, headers, "text/plain; charset=utf-8" if not entry["lfs"] else "")

    def _range(self, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Apply a ``Range: bytes=a-b`` header (206 + Content-Range, or 416 when unsatisfiable)."""
        spec = self.headers.get("Range")
        if not spec:
            return 200, data
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
        if match is None or match.groups() == ("", ""):
            raise HubError(416, f"Unsupported Range header {spec!r}")
        first, last = match.groups()
        if first == "":
            start, end = max(len(data) - int(last), 0), len(data) - 1
        else:
            start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
        if start >= len(data) or start > end:
            headers["Content-Range"] = f"bytes */{len(data)}"
            raise HubError(416, f"Range {spec!r} not satisfiable for {len(data)} bytes")
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return 206, data[start : end + 1]


def _make_cursor(key: tuple[bool, str]) -> str:
    """An opaque cursor naming the last entry served: ``(is_file, path)``."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _cursor_key(cursor: str) -> tuple[bool, str]:
    try:
        is_file, path = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return bool(is_file), str(path)
    except (ValueError, TypeError) as err:
        raise HubError(400, f"Invalid cursor {cursor!r}") from err


def _pointer_size(entry: dict[str, Any]) -> int:
    return len(lfs_pointer(entry["sha256"], entry["size"]))


class HubServer(ThreadingHTTPServer):
    """The threading HTTP server holding the store and a log of the requests it served."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, store: Store, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), Handler)
        self.store = store
        self.requests: list[str] = []
        self.unrouted: list[str] = []
        self.url = f"http://{host}:{self.server_address[1]}"
        self.endpoints = Endpoints(namespaces=(USER, *ORGS), read_only=READ_ORGS)
        self.failing_commits: dict[tuple[str, str], HubError] = {}  # (repo_type, repo_id) -> what a commit answers
        self.tree_page_size = TREE_PAGE_SIZE
        self.tree_page_size_expand = TREE_PAGE_SIZE_EXPAND


class HubStub:
    """A local stand-in of the Hugging Face Hub HTTP API, storing repos as plain files under `root`.

    >>> stub = HubStub(tmp_path / "hub"); url = stub.start(); ...; stub.stop()
    """

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.store = Store(self.root)
        self._server = HubServer(self.store, host, port)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to use as ``HF_ENDPOINT``."""
        return self._server.url

    @property
    def requests(self) -> list[str]:
        """``"METHOD /path?query"`` of every request served so far (to assert on what a client called)."""
        return self._server.requests

    @property
    def unrouted(self) -> list[str]:
        """Requests the stub has no route for (answered 404): a client call the stub does not cover yet."""
        return self._server.unrouted

    @property
    def endpoints(self) -> Endpoints:
        """The Inference Endpoints API (its URL: ``endpoints_url``); see tests/hubstub/endpoints.py."""
        return self._server.endpoints

    @property
    def endpoints_url(self) -> str:
        """The value for ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT``."""
        return self.url + "/" + "/".join(ENDPOINTS_PREFIX)

    def start(self) -> str:
        """Serve in a daemon thread; returns the base URL."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="hub-stub", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_commits(
        self, repo_id: str, *, repo_type: str = "model", status: int = 500, message: str = "Internal Error"
    ) -> None:
        """Answer every commit to ``repo_id`` with HTTP ``status`` until :meth:`heal_commits`, as the Hub answers a
        push it cannot take (an outage, a full storage quota). The repo can still be created, so a publish fails
        after creating it, as on the Hub. huggingface_hub sends the commit once, with no retry (``_send_commit`` with
        ``retry_on_error=False``, the default ``create_commit`` passes: huggingface/huggingface_hub@ee0a4510f4bc,
        src/huggingface_hub/_commit_api.py, and 2.4.0 as installed), and reads the error from ``X-Error-Message``."""
        self._server.failing_commits[(repo_type, repo_id)] = HubError(status, message)

    def heal_commits(self) -> None:
        """Commits succeed again (after :meth:`fail_commits`)."""
        self._server.failing_commits.clear()

    def page_tree(self, *, plain: int = TREE_PAGE_SIZE, expand: int = TREE_PAGE_SIZE_EXPAND) -> None:
        """Serve the tree listing ``plain`` entries a page (``expand`` entries with ``expand=true``) instead of the
        Hub's 1000 and 50, so a test pages a repo of a handful of files."""
        if plain < 1 or expand < 1:
            raise ValueError("a page holds at least one entry")
        self._server.tree_page_size, self._server.tree_page_size_expand = plain, expand

    # -- direct inspection for tests -------------------------------------------------------------------------------
    def repo(self, repo_id: str, *, repo_type: str = "model") -> Repo:
        """The stored repository (raises `HubError` 404 when absent)."""
        return self.store.get(repo_type, repo_id)

    def list_files(self, repo_id: str, *, repo_type: str = "model", revision: str = "main") -> list[str]:
        """Sorted paths in the repository at `revision`."""
        return sorted(self.repo(repo_id, repo_type=repo_type).files(revision))

    def read_file(self, repo_id: str, path: str, *, repo_type: str = "model", revision: str = "main") -> bytes:
        """The content of `path` at `revision`."""
        files = self.repo(repo_id, repo_type=repo_type).files(revision)
        if path not in files:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        return self.store.read_object(files[path]["sha256"])

    def is_lfs(self, repo_id: str, path: str, *, repo_type: str = "model", revision: str = "main") -> bool:
        """Whether `path` is stored as an LFS file."""
        return bool(self.repo(repo_id, repo_type=repo_type).files(revision)[path]["lfs"])
