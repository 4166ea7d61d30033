"""``sxhub space MODEL``: run the synthetic expert's Gradio Space locally."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: Gradio's, 7860 or the next free one)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
@click.option("--share/--no-share", default=False, show_default=True, help="Also open a public gradio.live link.")
def space(model: str, port: int | None, host: str, share: bool) -> None:
    """Run the Space of MODEL (a model folder or a Hub repo id) locally and print its URL; Ctrl-C stops it."""
    from ..space import launch_space

    launch_space(model, host=host, port=port, share=share, block=True)
