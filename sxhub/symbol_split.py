"""The student's tokenizer splits symbols off words before WordPiece sees them.

A WordPiece tokenizer (BERT, MiniLM) turns a whole word into [UNK] when one of its characters is out of its
vocabulary, so a symbol glued to a word erases the word: "thanks👍", "🚨WINNING", "today💪🏻" (180 words in 132 of
the 5,000 4P tweets). The student's tokenizer splits these symbols off first (a tokenizers Split pre-tokenizer saved
in its tokenizer.json, which transformers, the ONNX path and the Space all read): the word keeps its tokens and
the symbol alone is [UNK]. Symbols, modifiers and enclosing marks from U+2000 up (emoji, dingbats, arrows, skin
tones, keycaps); Latin-1's ©, ° and the like tokenize as before.

:mod:`sxhub.train_local` applies the split when it loads a base (:func:`isolate_symbols`) and saves it so that it loads
back (:func:`keep_split_on_load`); the AutoTrain backend hands AutoTrain a base with the split
(:func:`base_with_isolated_symbols`). Light at import: tokenizers and transformers load at call time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ISOLATED_SYMBOLS = r"[\x{2000}-\x{10FFFF}&&[\p{So}\p{Sk}\p{Me}]]"


def isolate_symbols(tokenizer: Any) -> bool:
    """Split :data:`ISOLATED_SYMBOLS` off before a WordPiece tokenizer's own pre-tokenizer (in place; once, also for
    a student's tokenizer trained on again). True when the tokenizer has that split; other models (BPE, Unigram)
    keep a word with an unknown character and are left as they are."""
    from tokenizers import Regex, pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or type(backend.model).__name__ != "WordPiece":
        return False
    if symbols_isolated(tokenizer):
        return True
    steps = [pre_tokenizers.Split(Regex(ISOLATED_SYMBOLS), "isolated")]
    if backend.pre_tokenizer is not None:
        steps.append(backend.pre_tokenizer)
    backend.pre_tokenizer = pre_tokenizers.Sequence(steps)
    return True


def symbols_isolated(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and json.dumps(ISOLATED_SYMBOLS) in backend.to_str()


def keep_split_on_load(folder: Path, input_names: list[str]) -> None:
    """Make a tokenizer saved with the symbol split (:func:`isolate_symbols`) load with it.

    transformers 5 rebuilds a ``BertTokenizer`` from its vocab and would drop the split: the generic fast class
    loads tokenizer.json as saved (transformers 4 and 5 alike). It also keeps the base's inputs: the generic class
    would leave BERT's token_type_ids out (and the ONNX graph with it).
    """
    config_file = folder / "tokenizer_config.json"
    saved = json.loads(config_file.read_text(encoding="utf-8"))
    saved["tokenizer_class"] = "PreTrainedTokenizerFast"
    saved["model_input_names"] = input_names
    config_file.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def base_with_isolated_symbols(base: str, folder: Path) -> tuple[str, list[str] | None]:
    """``base`` with the local backend's tokenizer, for a trainer that loads it by path (AutoTrain): ``folder``
    filled with links to a local base's files and its tokenizer with :func:`isolate_symbols`, and the input names
    to keep (:func:`keep_split_on_load`). The base as given, and None, where it is not a local folder, its tokenizer
    is not WordPiece, or it has the split already (a student as the base)."""
    from transformers import AutoTokenizer

    path = Path(base).expanduser()
    if not path.is_dir():
        return base, None
    tokenizer = AutoTokenizer.from_pretrained(path)
    if symbols_isolated(tokenizer) or not isolate_symbols(tokenizer):
        return base, None
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    saved = {item.name for item in folder.iterdir()}
    for item in path.iterdir():
        if item.name not in saved and item.name not in {"vocab.txt", "special_tokens_map.json"}:
            (folder / item.name).symlink_to(item.resolve())  # the weights and the rest, not copied
    keep_split_on_load(folder, list(tokenizer.model_input_names))
    return str(folder), list(tokenizer.model_input_names)
