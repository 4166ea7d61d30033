"""The CLI's option defaults are the library's: `sxhub tune` / `sxhub train` repeat TuneOptions' / TrainConfig's
defaults as click defaults (so that --help shows them without importing torch), and this keeps the two from
drifting apart."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sxhub.cli.train import train as train_command
from sxhub.cli.tune import tune as tune_command
from sxhub.train_config import TrainConfig
from sxhub.tune import TuneOptions

# options whose default is the same-named field's; then option -> (field, how the CLI's default maps onto it)
SAME = ("backend", "epochs", "learning_rate", "max_length", "seed")
TUNE = {
    **{
        name: (name, None)
        for name in (*SAME, "group_size", "lora_r", "lora_alpha", "lora_dropout", "writing", "holdout", "max_train")
    },
    "lora_layers": ("lora_layers", lambda v: None if v == "all" else int(v)),
    "target_modules": ("target_modules", lambda v: v.split(",")),
}
TRAIN = {
    **{name: (name, None) for name in (*SAME, "batch_size", "max_minutes", "val_size", "min_steps")},
    "no_class_weights": ("class_weights", lambda v: not v),
    "soft_labels": ("soft_labels", bool),  # a flag: off unless given
}


def _field_default(cls: Any, name: str) -> Any:
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


@pytest.mark.parametrize(
    ("command", "cls", "mapping"), [(tune_command, TuneOptions, TUNE), (train_command, TrainConfig, TRAIN)]
)
def test_cli_defaults_are_the_dataclass_defaults(command: Any, cls: Any, mapping: dict) -> None:
    params = {p.name: p for p in command.params}
    assert set(mapping) <= set(params), set(mapping) - set(params)
    for option, (name, convert) in mapping.items():
        cli_default = params[option].default
        if cli_default is None or type(cli_default).__name__ == "Sentinel":  # no default (click 8.3: UNSET)
            cli_default = None
        value = convert(cli_default) if convert else cli_default
        assert value == _field_default(cls, name), f"--{option.replace('_', '-')}: {cli_default!r} vs {cls.__name__}"
