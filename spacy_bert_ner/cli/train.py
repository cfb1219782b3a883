"""CLI command: `spacy train`, timed."""
from pathlib import Path

import typer
from wasabi import msg

from .app import app


@app.command(
    "train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def train_cmd(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Training config (configs/*.cfg)"),
    output_path: Path = typer.Option(..., "--output", "-o", help="Output folder (model-best, model-last, train_time.json)"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="-1 = CPU; N = GPU N"),
    set_text: str = typer.Option("", "--set", help="More overrides as 'section.key=value ...' in one argument (for project.yml variables)"),
) -> None:
    """`spacy train` with the same overrides (--paths.train ...), also writing train_time.json."""
    from spacy.cli._util import parse_config_overrides

    from ..bench.train_time import train_timed
    from .options import parse_set_overrides

    try:
        overrides = {**parse_config_overrides(ctx.args), **parse_set_overrides(set_text)}
    except ValueError as err:
        msg.fail(str(err), exits=1)
    record = train_timed(config_path, output_path, overrides, gpu_id=gpu_id)
    per_epoch = record.seconds_per_epoch
    epoch_text = f", {per_epoch:,.0f} s per epoch over {record.epochs:.2f} epochs" if per_epoch else ""
    msg.good(f"Trained in {record.seconds:,.0f} s{epoch_text}; wrote {output_path / 'train_time.json'}")

