"""Running a synthetic expert's Gradio Space locally (``sxhub space MODEL``): the very ``spaces/app.py`` that
``sxhub publish space`` puts in the Space repo (whose folder ``sxhub.space_folder.write_space_folder`` writes). The
app needs no sxhub install."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from ._paths import asset_dir
from .errors import ModelError, UserError, require
from .repo import check_model_dir, check_repo_id, given_evaluations, model_info
from .space_folder import space_examples, space_title, write_space_folder

__all__ = ["build_space", "check_host", "launch_space", "load_app_module", "write_space_folder"]


# -- running the Space locally ---------------------------------------------------------------------------------
def load_app_module() -> ModuleType:
    """``spaces/app.py`` imported as a module (the very file a published Space runs)."""
    path = asset_dir("spaces") / "app.py"
    spec = importlib.util.spec_from_file_location("sxhub_space_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in app.py look their module up there
    spec.loader.exec_module(module)
    return module


def build_space(model: str | os.PathLike[str], *, examples: Sequence[str] | None = None) -> Any:
    """The Space's ``gr.Blocks`` for ``model`` (a local folder or a Hub repo id), examples from its task."""
    from .model_card import expert_facts
    from .model_info import read_model_info, resolve_model_dir

    ref, title, about, preprocessing = str(model), None, None, None
    if Path(ref).is_dir():
        check_model_dir(ref)
        ref = str(Path(ref).resolve())
        info, task = model_info(Path(ref))
        title = space_title(task.name)
        about = info.get("about") or expert_facts(
            info, task, evaluations=given_evaluations(None, info), split="validation"
        )
        preprocessing = read_model_info(ref).preprocessing  # also for a model saved before the block existed
        if examples is None:
            examples = space_examples(task, None)
    elif Path(ref).exists() or ref.startswith((".", "/")):
        raise ModelError(f"model {ref!r} is not a folder; pass a model folder or a Hub repo id (NAMESPACE/NAME).")
    else:
        check_repo_id(ref)
        if "/" not in ref:  # a bare name is a folder that is not there far more often than a legacy Hub id
            raise ModelError(
                f"model {ref!r} is not a folder here; pass the folder sxhub train wrote or a Hub repo id "
                "(NAMESPACE/NAME)."
            )
        # downloaded now, or one error line naming the repo (not a traceback from the app)
        folder = resolve_model_dir(ref)
        if examples is None and (folder / "sxhub.json").is_file():  # the task's own, as on a folder (the app's
            # stand-ins are financial news)
            examples = space_examples(model_info(folder)[1], None)
    app = load_app_module()
    examples = list(examples) if examples else None
    return app.build_demo(ref, examples=examples, title=title, about=about, preprocessing=preprocessing)


def check_host(host: str) -> None:
    """Refuse a ``--host`` this machine cannot serve on, before any work: gradio, given a host that does not resolve
    or is not one of this machine's addresses, waits for a server that never starts, port after port. The host
    passes when it resolves and one of its addresses takes a bind on port 0 (any free port)."""
    import socket

    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # gradio strips an IPv6's brackets
    reason = "it resolves to no address"
    try:
        addresses = socket.getaddrinfo(name, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror; a label too long (idna); a NUL in the name
        addresses, reason = [], getattr(exc, "strerror", None) or str(exc)
    for family, kind, proto, _, address in addresses:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.bind(address)
            return
        except OSError as exc:  # "Cannot assign requested address": another machine's address
            reason = exc.strerror or str(exc)
    raise UserError(
        f"--host {host!r} is not an address this machine can serve on: {reason}; pass 127.0.0.1 (this machine) or "
        "0.0.0.0 (the network)."
    )


def listen(demo: Any, *, host: str, port: int | None, **kwargs: Any) -> Any:
    """``demo.launch`` on ``host``/``port`` (``kwargs`` passed on); a port gradio cannot bind is one error line."""
    # gradio writes the URL as http://HOST:PORT/ and takes "[::1]" (brackets stripped to bind): a bare "::" ended
    # in "InvalidURL: Invalid port: '::7860'"
    server_name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    from .proxies import bypass_proxies

    bypass_proxies(host)  # gradio checks its own URL with httpx before launch returns: not through HTTP_PROXY
    try:
        return demo.launch(server_name=server_name, server_port=port, **kwargs)
    except OSError as exc:  # gradio: "Cannot find empty port in range: P-P"
        where = f"port {port}" if port else "a free port from 7860"
        raise UserError(
            f"could not listen on {host}, {where} ({str(exc).split('. ')[0][:120]}); pass another --port, or "
            "leave --port out for the next free one."
        ) from exc


def launch_space(
    model: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
) -> tuple[Any, str]:
    """Run the Space locally; returns ``(demo, url)``. With ``block=False`` it serves in a thread until ``demo.close()``."""
    require(["gradio"], "sxhub space", "space")
    check_host(host)  # before the model is loaded (or downloaded)
    demo = build_space(model)
    limit = load_app_module().MAX_CSV_BYTES  # as the published app.py launches: a larger upload is refused
    _, local_url, share_url = listen(
        demo, host=host, port=port, share=share, prevent_thread_lock=True, quiet=True, max_file_size=limit
    )
    url = share_url or local_url
    if block:
        print(url, flush=True)
        demo.block_thread()
    return demo, url
