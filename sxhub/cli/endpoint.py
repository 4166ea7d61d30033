"""``sxhub endpoint``: a TGI Inference Endpoint for a teacher (up, status, pause, resume, delete)."""

from __future__ import annotations

import sys

import click

from ..errors import UserError
from . import emit_json, say
from .params import only_applies


@click.group("endpoint")
def endpoint() -> None:
    """A teacher on a Hugging Face Inference Endpoint (TGI), paused when idle.

    Name it in a task spec as `teachers: [{endpoint: NAME}]` (or --teacher endpoint:NAME): annotate, run, generate
    and twins resume it first when it is paused or scaled to zero; their --pause-after pauses it when the run ends.
    """


def _print(info: dict, as_json: bool) -> None:
    if as_json:
        emit_json(info)
        return
    price = info.get("price_per_hour")
    say(
        f"{info['name']}: {info['status']}, {info['model']} on {info['hardware']} "
        f"(replicas {info['replicas']['min']}-{info['replicas']['max']}"
        f"{f', ${price:.2f}/h each' if price is not None else ''})"
    )
    if info.get("base_url"):
        click.echo(info["base_url"])


@endpoint.command("up")
@click.argument("model")
@click.option("--name", help="Endpoint name [sxhub-<model name>].")
@click.option("--vendor", default="aws", show_default=True, help="Cloud vendor.")
@click.option("--region", default="us-east-1", show_default=True, help="Cloud region.")
@click.option("--accelerator", default="gpu", show_default=True, help="gpu or cpu.")
@click.option("--instance", "instance_type", default="nvidia-l4", show_default=True, help="Instance type.")
@click.option("--size", "instance_size", default="x1", show_default=True, help="Instance size.")
@click.option("--min-replicas", type=click.IntRange(0), default=0, show_default=True, help="0: scale to zero.")
@click.option("--max-replicas", type=click.IntRange(1), default=1, show_default=True)
@click.option(
    "--scale-to-zero-after",
    type=click.IntRange(1),
    default=15,
    show_default=True,
    help="Idle minutes before it scales to zero (with --min-replicas 0).",
)
@click.option("--namespace", help="User or organisation [the token's user].")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=1800, show_default=True, help="Seconds to wait until it runs."
)
@click.option("--no-wait", is_flag=True, help="Return once it is created, without waiting until it runs.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def up(
    model: str,
    name: str | None,
    vendor: str,
    region: str,
    accelerator: str,
    instance_type: str,
    instance_size: str,
    min_replicas: int,
    max_replicas: int,
    scale_to_zero_after: int,
    namespace: str | None,
    timeout: float,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Create a TGI endpoint serving MODEL (a Hub model id), wait until it runs and print its URL."""
    only_applies(
        "--timeout",
        "without --no-wait (it is how long to wait until the endpoint runs)",
        "drop --no-wait, or drop --timeout",
        when=not no_wait,
    )
    only_applies(
        "--scale-to-zero-after",
        "with --min-replicas 0 (an endpoint that keeps replicas never scales to zero)",
        "drop --scale-to-zero-after, or pass --min-replicas 0",
        when=min_replicas == 0,
    )
    from .. import endpoints

    created = endpoints.up(
        model,
        name=name,
        hardware=endpoints.Hardware(vendor, region, accelerator, instance_type, instance_size),
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        scale_to_zero_timeout=scale_to_zero_after,
        namespace=namespace,
        wait=not no_wait,
        timeout=timeout,
        refresh_every=endpoints.refresh_seconds(),
    )
    _print(endpoints.describe(created, price=endpoints.hourly_price(created)), as_json)


@endpoint.command("status")
@click.argument("name")
@click.option("--namespace", help="User or organisation [the token's user].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def status(name: str, namespace: str | None, as_json: bool) -> None:
    """Print the state, URL, hardware and hourly price of endpoint NAME."""
    from .. import endpoints

    name, namespace = _ref(name, namespace)
    found = endpoints.get(name, namespace=namespace)
    _print(endpoints.describe(found, price=endpoints.hourly_price(found)), as_json)


@endpoint.command("pause")
@click.argument("name")
@click.option("--namespace", help="User or organisation [the token's user].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def pause(name: str, namespace: str | None, as_json: bool) -> None:
    """Pause endpoint NAME (no charge while paused; `resume` or a run that names it starts it again)."""
    from .. import endpoints

    name, namespace = _ref(name, namespace)
    _print(endpoints.describe(endpoints.pause(name, namespace=namespace)), as_json)


@endpoint.command("resume")
@click.argument("name")
@click.option("--namespace", help="User or organisation [the token's user].")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=1800, show_default=True, help="Seconds to wait until it runs."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def resume(name: str, namespace: str | None, timeout: float, as_json: bool) -> None:
    """Resume endpoint NAME and wait until it runs (a scaled-to-zero one is woken by a request, as any would)."""
    from .. import endpoints

    name, namespace = _ref(name, namespace)
    resumed = endpoints.resume(name, namespace=namespace, timeout=timeout, refresh_every=endpoints.refresh_seconds())
    _print(endpoints.describe(resumed, price=endpoints.hourly_price(resumed)), as_json)


@endpoint.command("delete")
@click.argument("name")
@click.option("--namespace", help="User or organisation [the token's user].")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, namespace: str | None, yes: bool) -> None:
    """Delete endpoint NAME (for good; `pause` keeps it without charge)."""
    from .. import endpoints

    name, namespace = _ref(name, namespace)
    if not yes:
        if sys.stdin is None or not sys.stdin.isatty():  # CI, a pipe, </dev/null: nobody to answer the question
            raise UserError(
                f"not deleting endpoint {name!r}: there is no terminal to confirm on; pass --yes to delete it "
                "without asking."
            )
        click.confirm(f"Delete endpoint {name!r}? This cannot be undone", abort=True, err=True)
    endpoints.delete(name, namespace=namespace)
    say(f"deleted endpoint {name}")


def _ref(name: str, namespace: str | None) -> tuple[str, str | None]:
    """NAME as the verbs take it: ``NAME`` or ``NAMESPACE/NAME``, the form a spec's ``endpoint:`` takes and the
    end-of-run lines print (it was refused: "no Inference Endpoint named 'ORG/NAME'"). A namespace in NAME and another
    in ``--namespace`` is one line."""
    from ..endpoints import split_ref

    bare, given = split_ref(name)
    if given is None:
        return name, namespace
    if not bare or "/" in given:
        raise click.BadParameter(f"{name!r} is not NAME or NAMESPACE/NAME.", param_hint="NAME")
    if namespace is not None and namespace != given:
        raise click.BadParameter(
            f"{name!r} names namespace {given!r} but --namespace is {namespace!r}: give one of them.",
            param_hint="NAME",
        )
    return bare, given
