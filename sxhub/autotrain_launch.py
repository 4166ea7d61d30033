"""``autotrain --config CONF`` without AutoTrain's two launcher processes: run by AutoTrain's own Python, in its venv.

Run as a script (``PYTHON autotrain_launch.py CONF``), never imported by sxhub: it imports AutoTrain, which sxhub's
environment does not have. It does what autotrain-advanced 0.8.36's CLI does for ``--config`` (reading the config,
preparing the data, writing ``PROJECT/training_params.json``) with AutoTrain's own functions, then replaces itself
(``exec``) with the trainer module the CLI would have started under ``accelerate launch``:
``python -m autotrain.trainers.clm --training_config PROJECT/training_params.json``, in the environment
``accelerate launch`` gives a single process.

Why: the CLI waits on ``accelerate launch``, which waits on the trainer; both are Pythons that imported torch and
held 0.5 and 0.43 GB for the whole run (bench/results/tune_autotrain_memory.md), on top of the trainer, and each
took seconds to start. After the ``exec`` the trainer is the only process: the same process id (so sxhub's process
group, timeouts and Ctrl-C handling reach it as before), the same output pipe and log, and its exit status is
sxhub's to read directly. Where accelerate would start several processes (several GPUs, DeepSpeed, FSDP), the
launch is accelerate's own, as before.
"""

from __future__ import annotations

import json
import os
import sys

# this folder is sxhub's package: as the script's folder it would come first on sys.path, and sxhub's modules
# (evaluate.py, metrics.py, ...) would be imported in place of the AutoTrain venv's packages of the same names
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _prepare(conf: str) -> list[str] | None:
    """Write ``PROJECT/training_params.json`` as ``autotrain --config CONF`` writes it and return the command the CLI
    would then start; None when the config is not a local run (then AutoTrain's CLI ran it, all of it)."""
    from autotrain import logger
    from autotrain.backends.local import LocalRunner
    from autotrain.commands import launch_command
    from autotrain.parser import AutoTrainConfigParser

    # autotrain-advanced 0.8.36, autotrain/cli/autotrain.py, main(): the --config branch
    logger.info(f"Using AutoTrain configuration: {conf}")
    parsed = AutoTrainConfigParser(conf)
    if not parsed.backend.startswith("local"):
        parsed.run()
        return None
    # autotrain/parser.py, AutoTrainConfigParser.run(): the params, the data prepared (munged) into
    # PROJECT/autotrain-data, then AutoTrainProject(params, backend).create(), which for a local backend is
    # LocalRunner(params, backend).create() (autotrain/backends/local.py)
    params = parsed.task_param_map[parsed.task](**parsed.parsed_config)
    logger.info(params)
    parsed.munge_data_map[parsed.task](params, local=True)
    runner = LocalRunner(params=params, backend=parsed.backend)
    logger.info("Starting local training...")
    # autotrain/utils.py, run_training(runner.env_vars["PARAMS"], task_id, local=True, wait=True): the params read
    # back from their JSON, saved as PROJECT/training_params.json, and launch_command's command started and waited on
    data = json.loads(runner.env_vars["PARAMS"])
    if isinstance(data, str):
        data = json.loads(data)
    params = type(params)(**data)
    params.save(output_dir=params.project_name)
    return [str(c) for c in launch_command(params=params)]


def _single_process(cmd: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """The trainer's command and environment as ``accelerate launch`` would start it (accelerate 1.2.1,
    accelerate/commands/launch.py, launch_command() -> simple_launcher(): prepare_simple_launcher_cmd_env), when
    ``cmd`` is an ``accelerate launch`` of one process; None when accelerate would launch several (or is not the
    accelerate these functions come from)."""
    if cmd[:2] != ["accelerate", "launch"]:
        return None
    try:
        from accelerate.commands.launch import _validate_launch_command, launch_command_parser
        from accelerate.utils.launch import prepare_simple_launcher_cmd_env

        args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(cmd[2:]))
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    several = (args.use_deepspeed or args.use_fsdp or args.use_megatron_lm or args.multi_gpu or args.tpu) and not (
        args.cpu
    )
    if several or (defaults is not None and str(defaults.compute_environment).endswith("AMAZON_SAGEMAKER")):
        return None
    return prepare_simple_launcher_cmd_env(args)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: autotrain_launch.py CONFIG.yml")
    cmd = _prepare(argv[0])
    if cmd is None:
        return
    single = _single_process(cmd)
    sys.stdout.flush()
    sys.stderr.flush()
    if single is None:  # accelerate's own launch of several processes, or a plain `python -m ...` trainer
        os.execvp(cmd[0], cmd)
    trainer, env = single
    os.execve(trainer[0], trainer, env)


if __name__ == "__main__":
    main(sys.argv[1:])
