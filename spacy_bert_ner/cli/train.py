"""CLI commands for training: `spacy train`, timed; a teacher's soft targets for distillation."""
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


@app.command("teacher-targets")
def teacher_targets_cmd(
    teacher_path: Path = typer.Argument(..., help="Trained teacher pipeline with a token_classifier (no CRF)"),
    input_path: Path = typer.Argument(..., help="Training corpus (.spacy DocBin)"),
    output_path: Path = typer.Argument(..., help="New .spacy file: the same Docs, with the teacher's per-token distributions"),
    component: str = typer.Option("token_classifier", help="The teacher's component whose distributions to keep"),
    temperature: float = typer.Option(1.0, help="Soften (> 1) or sharpen (< 1) the teacher's distributions"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="-1 = CPU; N = GPU N"),
    force: bool = typer.Option(False, "--force", help="Replace an existing file that is not a DocBin"),
) -> None:
    """Label a training corpus with a teacher's soft targets, for `distill_weight` (docs/training.md)."""
    import spacy

    from ..distillation import TeacherError, write_teacher_corpus
    from ..files import OutputError

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        teacher = spacy.load(teacher_path)
        if component not in teacher.pipe_names:
            raise TeacherError(f"{teacher_path}: no {component!r} component (pipeline {teacher.pipe_names})")
        n_docs = write_teacher_corpus(
            teacher, input_path, output_path, component=component, temperature=temperature, force=force
        )
    except (TeacherError, OutputError, OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    msg.good(f"Wrote {output_path}: {n_docs:,} docs with {teacher_path}'s {component} distributions")
