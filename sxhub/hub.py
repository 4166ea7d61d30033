"""The Hub side of publishing: a repo folder written by ``write(folder, repo_id)`` is kept in ``to`` or uploaded in
one commit through ``HfApi(library_name="sxhub")`` (:func:`publish_folder`), and the Hub's refusals and an
unreachable Hub become one error line each. The token is used only for the upload and never written into a file."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import __version__
from .commits import commit_title
from .errors import PublishError, SxhubError
from .repo import card_load_id, check_repo_id, files_from_source, hub_endpoint

OFFLINE_FIX = "write the repo folder with --to DIR"
logger = logging.getLogger(__name__)


def publish_folder(
    write: Any,
    *,
    repo_type: str,
    default_name: str,
    repo_id: str | None,
    to: str | os.PathLike[str] | None,
    token: str | None,
    private: bool | None,
    revision: str | None,
    exist_ok: bool,
    source: str | os.PathLike[str] | None = None,
    commit: Callable[[Path], tuple[str, str]] | None = None,
) -> str:
    """Write the repo folder with ``write(folder, repo_id)``; keep it in ``to`` or upload it to ``repo_id``.

    ``source``: the folder ``write`` copies (a model folder); ``to`` may not be it or lie inside it. ``commit``:
    the commit's title and description, read from the written folder (:mod:`sxhub.commits`)."""
    if repo_id is None and to is None:
        raise PublishError(
            "nothing to publish to: pass --repo-id NAMESPACE/NAME (the Hub) or --to DIR (a folder) (Python: repo_id= or to=)."
        )
    if repo_id is not None:
        check_repo_id(repo_id)
    if to is not None:
        folder = Path(to)
        if source is not None and Path(source).is_dir() and folder.resolve().is_relative_to(Path(source).resolve()):
            # the copy of the source took in its own staging folder (a hidden second copy of the weights in the
            # repo folder), and every later publish there the last one too, nested one level deeper each time
            raise PublishError(
                f"--to {str(folder)!r} is the folder being published, {str(source)!r}, or lies in it, so the repo "
                f"folder would copy itself; pass a --to outside {str(source)!r} (Python: to=)."
            )
        if folder.exists() and any(folder.iterdir()) and not exist_ok:
            raise PublishError(
                f"folder {str(folder)!r} is not empty; pass --exist-ok (Python: exist_ok=True) to write into it anyway."
            )
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.sxhub-", dir=folder.parent))
        try:  # a refused input leaves the folder as it was, never half-written
            with out_of_space(
                f"free space there, or pass a --to on a disk with room ({str(folder)!r} is as it was)", where=staging
            ):
                write(staging, repo_id or default_name)
                replace_published(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if repo_id is None and repo_type in ("model", "dataset"):
            # the card's from_pretrained / load_dataset line names the repo: a bare name loads nothing once uploaded.
            # Said once the folder is written: a refused input printed it above its own error line, about a card
            # that was never written
            logger.warning(
                "no --repo-id: the card's usage code loads the placeholder %r; pass --repo-id (Python: repo_id=) "
                "with the id you will upload the folder to",
                card_load_id(default_name),
            )
        return str(folder)
    assert repo_id is not None
    token = resolve_token(token)
    api = hub_api(token)
    repo_id = with_namespace(api, repo_id)
    refuse_existing(api, repo_id, repo_type=repo_type, exist_ok=exist_ok)  # before the work of writing the folder
    with tempfile.TemporaryDirectory(prefix="sxhub-publish-") as tmp:
        folder = Path(tmp)
        with out_of_space(  # the files sxhub writes (cards, plots, configs, data) go to the temporary folder first
            f"free space there, or set TMPDIR to a folder on a disk with room; nothing was pushed to {repo_id!r}",
            where=folder,
        ):
            with files_from_source() as sources:  # the model's own files are not copied there: see link_sources
                write(folder, repo_id)  # a refused input fails here, before the Hub holds an empty repo
            link_sources(folder, sources)
        url = create_repo(api, repo_id, repo_type=repo_type, private=private)
        try:
            if private and exist_ok:  # an existing repo keeps its visibility through create_repo(exist_ok=True)
                make_private(api, repo_id, repo_type=repo_type)
            if revision is not None:
                ensure_branch(api, repo_id, revision, repo_type=repo_type)
            message, description = commit(folder) if commit else (commit_title(f"Upload {repo_kind(repo_type)}"), "")
            upload(
                api, repo_id, folder, repo_type=repo_type, revision=revision, message=message, description=description
            )
        except PublishError as exc:
            if exist_ok:
                raise
            # this call created the repo (refuse_existing saw none): a plain rerun would stop at "already exists"
            kind = repo_kind(repo_type)
            raise PublishError(
                f"{str(exc).rstrip('.')}; the {kind} repo {repo_id!r} was created but this publish did not finish: "
                "fix that, then run again with --exist-ok."
            ) from exc
        except KeyboardInterrupt as exc:  # Ctrl-C / SIGTERM during the upload: the line said "a rerun starts over",
            if not exist_ok:  # and the rerun stopped at "already exists" on the repo this call had created
                exc.sxhub_left = (  # type: ignore[attr-defined]
                    f"the {repo_kind(repo_type)} repo {repo_id!r} was created before the upload finished: run again "
                    "with --exist-ok to push to it"
                )
            raise
    branch = revision.removeprefix("refs/heads/") if revision is not None else "main"
    # the branch pushed to: the repo's own page shows main, which a push to a new branch leaves empty
    return url if branch == "main" else f"{url}/tree/{quote(branch, safe='')}"


def link_sources(folder: Path, sources: dict[Path, Path]) -> None:
    """Link each file a push did not copy into its temporary repo folder (``sources``: its path there -> the model
    folder's file) to where it is, so that ``upload_folder`` uploads it from there: the whole model folder was
    copied into TMPDIR first, so a push needed twice the weights' size free there, and a full TMPDIR failed a push
    whose Hub repo had room. A file sxhub wrote at that path (a rewritten ``config.json``) is kept: it is what the
    repo holds. The links are made only after every file was written, so nothing is written through them.

    huggingface_hub reads a linked file as the file: ``_prepare_upload_folder_additions`` lists
    ``folder_path.glob("**/*")`` ``if path.is_file()`` (which follows a link) and ``CommitOperationAdd`` checks
    ``os.path.isfile`` and reads with ``open(path, "rb")`` (huggingface/huggingface_hub@ee0a4510f4bc,
    src/huggingface_hub/hf_api.py lines 11629-11630, src/huggingface_hub/_commit_api.py lines 201 and 268; with
    hf_xet the path is handed to ``start_upload_file``, src/huggingface_hub/_upload_pipeline.py line 465, which
    opens it as any program does); its own cache's snapshot folders are links to the blobs, uploaded alike. Where
    links cannot be made (Windows without the privilege), the file is copied, as before."""
    for target, source in sources.items():
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(source.resolve())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise
            shutil.copy2(source, target)


@contextlib.contextmanager
def out_of_space(fix: str, *, where: Path) -> Iterator[None]:
    """A full disk while the repo folder is written, as one line naming the file and ``fix``: the CLI's line for it
    said to "write the output to another disk (-o)", an option publish does not have, and the full disk a push
    meets is the temporary folder's, where the cards and data files are written before the upload (the model's own
    files are uploaded from where they are: :func:`link_sources`). An error that names no file (pyarrow's, writing
    a dataset's parquet) names the folder being written (``where``): the line said "no space left on the device;
    free space there", and there was nowhere."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        writing = os.fsdecode(exc.filename) if exc.filename else f"{os.fsdecode(where)}{os.sep}"
        raise SxhubError(f"no space left on the device writing {writing!r}; {fix}.") from exc


# where the token pushed with came from (resolve_token): what a 401 or 403 tells the user to change
_token_from: list[str] = []


def resolve_token(token: str | None) -> str:
    """The token to push with: the argument, else ``HF_TOKEN``, else the saved login."""
    from huggingface_hub import get_token

    given = token
    token = token or get_token()
    if not token:
        raise PublishError("no Hugging Face token: run `hf auth login`, set HF_TOKEN, or pass --token.")
    env = next((name for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") if os.environ.get(name, "").strip()), None)
    _token_from[:] = ["--token" if given else env or "login"]
    return token


def token_fix(status: int) -> str:
    """How to push with a token the Hub accepts (``status`` 401: rejected; 403: no write access), named by where the
    token came from: ``HF_TOKEN`` is read before the saved login, so a stale one made `hf auth login` change
    nothing, and the line said to check the token with `hf auth whoami` (which shows HF_TOKEN's) or pass --token."""
    origin = _token_from[0] if _token_from else "login"
    kind = "a valid token" if status == 401 else "a token with write access"
    if origin == "--token":
        return f"pass {kind} with --token (or leave --token out to use HF_TOKEN or your `hf auth login`)"
    if origin != "login":
        return (
            f"the token came from {origin}, which is read before your `hf auth login`: set {origin} to {kind}, "
            "or unset it to use your login"
        )
    return f"run `hf auth login` with {kind}, set HF_TOKEN to one, or pass --token"


def with_namespace(api: Any, repo_id: str) -> str:
    """``repo_id`` with the token's own namespace in front when it has none (``--repo-id fin-sent``), as the Hub
    creates such a repo: the repo was created as ``USER/fin-sent`` while the existence check, the card's
    ``from_pretrained`` line and the upload all used ``fin-sent``, so the upload answered 404 (and an existing
    ``USER/fin-sent`` was reused without --exist-ok)."""
    if "/" in repo_id:
        return repo_id
    with hub_errors(f"finding the namespace of the token for repo {repo_id!r}"):
        user = str(api.whoami()["name"])
    logger.warning("--repo-id %r has no namespace: publishing to %r, the token's own", repo_id, f"{user}/{repo_id}")
    return f"{user}/{repo_id}"


def hub_api(token: str) -> Any:
    """``HfApi`` at ``$HF_ENDPOINT`` (the Hub by default), tagged as sxhub in the user agent. The endpoint loses a
    trailing ``/`` as huggingface_hub's own default does (``constants.ENDPOINT``): ``https://hub.example/`` sent the
    requests to ``//api/...``."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(), token=token, library_name="sxhub", library_version=__version__)


@contextlib.contextmanager
def hub_errors(doing: str, *, offline_fix: str = OFFLINE_FIX) -> Iterator[None]:
    """The Hub's refusals (HTTP errors) and an unreachable Hub (no network, a wrong HF_ENDPOINT) as one
    PublishError line each, naming what was being done; ``offline_fix`` is the way round an unreachable Hub."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except HfHubHTTPError as exc:
        raise PublishError(_http_message(exc, doing)) from exc
    except OfflineModeIsEnabled as exc:  # a ConnectionError: "check the network" sent the user the wrong way
        raise PublishError(
            f"HF_HUB_OFFLINE is set, so huggingface_hub sends no request ({doing}); unset it to push, or "
            f"{offline_fix}."
        ) from exc
    except (httpx2.TransportError, ConnectionError) as exc:
        raise PublishError(
            f"could not reach the Hub while {doing} ({type(exc).__name__}); check the network or HF_ENDPOINT, or "
            f"{offline_fix}."
        ) from exc


def refuse_existing(
    api: Any,
    repo_id: str,
    *,
    repo_type: str,
    exist_ok: bool,
    offline_fix: str = OFFLINE_FIX,
    other: str = "",
    owned: bool = False,
) -> None:
    """Without ``exist_ok``, an existing repo is one error line (``other``: another way out, after --exist-ok).
    Unless ``owned`` (its namespace was checked, as ``run --push`` does), one in a namespace the token cannot write
    to is said to be another's: "pass --exist-ok to push a new commit to it" sent the user to an HTTP 403."""
    kind = repo_kind(repo_type)
    if exist_ok:
        return
    with hub_errors(f"checking whether {kind} repo {repo_id!r} exists", offline_fix=offline_fix):
        exists = api.repo_exists(repo_id, repo_type=repo_type)
    if exists:
        if not owned:
            refuse_foreign(api, repo_id, kind=kind)
        raise PublishError(
            f"{kind} repo {repo_id!r} already exists; pass --exist-ok to push a new commit to it{other}."
        )


def writable_namespaces(me: dict[str, Any]) -> tuple[str, list[str], set[str]]:
    """From ``whoami``: the user, the organisations it may create repos in, and (casefolded) those it only reads."""
    user = str(me.get("name") or "")
    members = [org for org in me.get("orgs") or () if org.get("name")]
    orgs = sorted(str(org["name"]) for org in members if org.get("roleInOrg") != "read")
    readers = {str(org["name"]).casefold() for org in members if org.get("roleInOrg") == "read"}
    return user, orgs, readers


def refuse_foreign(api: Any, repo_id: str, *, kind: str) -> None:
    """Refuse an existing repo whose namespace is neither the token's user nor an organisation it writes to. A
    ``whoami`` that fails says nothing: the existing repo is then refused as any other."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    namespace = repo_id.split("/", 1)[0]
    try:
        user, orgs, _ = writable_namespaces(api.whoami())
    except (HfHubHTTPError, httpx2.TransportError, ConnectionError, KeyError, TypeError):
        return
    if user and namespace.casefold() not in {name.casefold() for name in (user, *orgs)}:
        yours = f"{user!r}" + (f" or {', '.join(map(repr, orgs))}" if orgs else "")
        raise PublishError(
            f"{kind} repo {repo_id!r} already exists in {namespace!r}, where the token of {user!r} cannot push; "
            f"pass a --repo-id in {yours} (e.g. {user}/{repo_id.split('/', 1)[1]})."
        )


def check_can_push(api: Any, namespace: str, *, offline_fix: str = OFFLINE_FIX) -> None:
    """Refuse a token that cannot create repos in ``namespace``: a read-only token (``whoami``'s
    ``auth.accessToken.role``, as ``hf auth login`` reports it), or a namespace that is neither the token's user nor
    one of its organisations, or one where the user has the read role (``orgs[].roleInOrg``). ``sxhub run --push`` met both only at its publish stage, in an HTTP 403, after the
    teachers were paid and the student trained. A fine-grained token's permissions are not listed here: the Hub
    judges those when the repos are created."""
    with hub_errors(f"checking what the token may write to (--push {namespace})", offline_fix=offline_fix):
        me = api.whoami()
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise PublishError(f"the token is read-only, so it cannot create repos in {namespace!r}; {token_fix(403)}.")
    user, orgs, readers = writable_namespaces(me)
    if namespace.casefold() in readers:
        raise PublishError(
            f"{user!r} has the read role in organisation {namespace!r}, so the token cannot create repos there "
            "(--push); ask an admin of it for the write role, or push to a namespace you can write to."
        )
    spelled = next((name for name in (user, *orgs) if name.casefold() == namespace.casefold()), None)
    if spelled is None:
        yours = f"your user {user!r}" + (f" or your organisations {', '.join(map(repr, orgs))}" if orgs else "")
        raise PublishError(
            f"the token of {user!r} cannot create repos in namespace {namespace!r} (--push); push to {yours}, or use "
            f"a token of a member of {namespace!r} with write access."
        )
    if spelled != namespace:  # passed as the same name, then the repos were created as NAMESPACE/...: HTTP 403
        raise PublishError(  # at the publish stage, after the teachers were paid and the student trained
            f"namespace {namespace!r} is spelled {spelled!r} on the Hub; pass --push {spelled} (the repo ids and the "
            "cards' loading code use the namespace as given)."
        )


# beside what a publish wrote, in the folder huggingface_hub keeps its own local metadata in (upload_folder skips it)
PUBLISHED_LIST = Path(".cache") / "huggingface" / "sxhub-published.json"


def replace_published(staging: Path, folder: Path) -> None:
    """Move the files of a freshly written repo folder (``staging``) into ``folder``, and delete the files the last
    publish there wrote that this one did not: an int8 ONNX or a data split from other weights stayed beside the
    new ones (``run --exist-ok``). Files a person added to the folder are left alone."""

    written = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    listed = folder / PUBLISHED_LIST
    before = json.loads(listed.read_text(encoding="utf-8")) if listed.is_file() else []
    for name in written:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, target)
    for name in set(before) - set(written):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    for parent in sorted({(folder / n).parent for n in before}, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # emptied sub-folders go too (not empty: kept)
            if parent != folder and not any(parent.iterdir()):
                parent.rmdir()
    listed.parent.mkdir(parents=True, exist_ok=True)
    listed.write_text(json.dumps(written, indent=0) + "\n", encoding="utf-8")


def create_repo(api: Any, repo_id: str, *, repo_type: str, private: bool | None) -> str:
    """Create the repo, or reuse it (``refuse_existing`` has checked), and return its URL; Hub refusals become
    one-line errors."""
    kind = repo_kind(repo_type)
    extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
    with hub_errors(f"creating {kind} repo {repo_id!r}"):
        return str(api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra))


def repo_kind(repo_type: str) -> str:
    """How a message names a repo type: ``Space`` (as the Hub writes it), ``model``, ``dataset``."""
    return "Space" if repo_type == "space" else repo_type


def make_private(api: Any, repo_id: str, *, repo_type: str) -> None:
    """Make the repo private when it is not (``--private`` on a repo that exists and is public), and say so; a
    private repo is left as it is, and nothing ever makes a repo public."""
    kind = repo_kind(repo_type)
    with hub_errors(f"making {kind} repo {repo_id!r} private"):
        if api.repo_info(repo_id, repo_type=repo_type).private:
            return
        api.update_repo_settings(repo_id, private=True, repo_type=repo_type)
    logger.warning("%s repo %r was public; made it private (--private)", kind, repo_id)


def ensure_branch(api: Any, repo_id: str, revision: str, *, repo_type: str) -> None:
    """Create branch ``revision`` from ``main`` when the repo has no such branch (``--revision dev`` on a new repo, or
    a branch not made yet), and say so; ``main``, an existing branch and a pull request's ``refs/pr/N`` are left
    as they are."""
    branch = revision.removeprefix("refs/heads/")
    if branch == "main" or branch.startswith("refs/"):
        return
    kind = repo_kind(repo_type)
    with hub_errors(f"creating branch {branch!r} of {kind} repo {repo_id!r}"):
        refs = api.list_repo_refs(repo_id, repo_type=repo_type)
        if any(ref.name == branch for ref in refs.branches):
            return
        api.create_branch(repo_id, branch=branch, repo_type=repo_type, exist_ok=True)
    logger.warning("branch %r did not exist in %s repo %r: created it from main", branch, kind, repo_id)


def upload(
    api: Any,
    repo_id: str,
    folder: Path,
    *,
    repo_type: str,
    revision: str | None,
    message: str,
    description: str = "",
) -> None:
    """Upload the whole folder in one commit, which also deletes the files an earlier sxhub publish left that the
    folder no longer holds (an int8 ONNX or a data split of an earlier publish stayed beside new weights): see
    :func:`stale_files`."""
    at = f" (revision {revision!r})" if revision else ""
    try:
        with hub_errors(f"uploading to {repo_id!r}{at}"):
            stale = stale_files(api, repo_id, folder, repo_type=repo_type, revision=revision)
            api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                repo_type=repo_type,
                revision=revision,
                commit_message=message,
                commit_description=description or None,
                # each path as a pattern matching only itself (huggingface_hub matches them with fnmatch)
                delete_patterns=[glob.escape(path) for path in stale] or None,
            )
    except PublishError as exc:
        status = getattr(getattr(exc.__cause__, "response", None), "status_code", None)
        if revision and status == 404:  # a branch is created first: what is left is a pull request, a tag, a commit
            raise PublishError(
                f"{str(exc).rstrip('.')}: the repo has no revision {revision!r} to push to; pass a branch name "
                "(created when missing) or an open pull request's refs/pr/N."
            ) from exc.__cause__
        raise


def stale_files(api: Any, repo_id: str, folder: Path, *, repo_type: str, revision: str | None) -> list[str]:
    """The repo's files that ``folder`` (the publish about to be committed) no longer holds and that an earlier
    sxhub publish wrote: their last commit is one of sxhub's (:func:`sxhub.commits.is_sxhub_commit`).

    A publish deleted every file it did not hold (``delete_patterns="*"``): a LICENSE or an evaluation someone
    added to the repo by hand, and in a dataset repo the review Space's decisions (``review/decisions/``, committed
    by its ``CommitScheduler``), were gone after ``--exist-ok``. ``--to DIR`` already kept what a person added
    (:func:`replace_published`); the Hub side now does too. A file sxhub wrote and a person changed since is theirs,
    and stays. ``.gitattributes`` is never deleted (huggingface_hub would not either)."""
    from huggingface_hub import RepoFile
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from .commits import is_sxhub_commit

    ours = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    try:
        entries = list(
            api.list_repo_tree(repo_id, repo_type=repo_type, revision=revision, recursive=True, expand=True)
        )
    except (EntryNotFoundError, RevisionNotFoundError, RepositoryNotFoundError):
        return []  # an empty new repo, or a branch made from main by this publish: nothing to delete
    return sorted(
        entry.path
        for entry in entries
        if isinstance(entry, RepoFile)
        and entry.path not in ours
        and entry.path != ".gitattributes"
        and is_sxhub_commit(entry.last_commit.title if entry.last_commit else None)
    )


def _http_message(exc: Any, doing: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # what the Hub said (its X-Error-Message or JSON error): huggingface_hub puts it below httpx's first line
    # ("Server error '500 Internal Server Error' for url ..."), which alone does not say why
    server = " ".join((getattr(exc, "server_message", None) or "").split())
    if server and server.lower() not in detail.lower():
        detail = f"{server} ({detail})"
    if status == 401:
        return f"the Hub rejected the token while {doing} (HTTP 401); {token_fix(401)}."
    if status == 403:
        return (
            f"the Hub refused {doing} (HTTP 403: {detail}); use a namespace that is yours or your organisation's, and "
            f"{token_fix(403)}."
        )
    return f"the Hub answered HTTP {status} while {doing}: {detail}"
