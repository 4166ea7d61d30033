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

# CLI option name -> (dataclass field, how the CLI's default maps onto the field)
TUNE = {
    "backend": ("backend", None),
    "epochs": ("epochs", None),
    "learning_rate": ("learning_rate", None),
    "group_size": ("group_size", None),
    "lora_r": ("lora_r", None),
    "lora_alpha": ("lora_alpha", None),
    "lora_dropout": ("lora_dropout", None),
    "lora_layers": ("lora_layers", lambda v: None if v == "all" else int(v)),
    "target_modules": ("target_modules", lambda v: v.split(",")),
    "writing": ("writing", None),
    "holdout": ("holdout", None),
    "max_train": ("max_train", None),
    "max_length": ("max_length", None),
    "seed": ("seed", None),
}
TRAIN = {
    "backend": ("backend", None),
    "epochs": ("epochs", None),
    "batch_size": ("batch_size", None),
    "learning_rate": ("learning_rate", None),
    "max_length": ("max_length", None),
    "max_minutes": ("max_minutes", None),
    "seed": ("seed", None),
    "no_class_weights": ("class_weights", lambda v: not v),
    "soft_labels": ("soft_labels", bool),  # a flag: off unless given
    "val_size": ("val_size", None),
    "min_steps": ("min_steps", None),
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
