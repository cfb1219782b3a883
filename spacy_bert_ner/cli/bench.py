"""CLI commands: inference speed and profiles."""
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..bench.profiling import profile_markdown, profile_pipeline, write_profile
from ..bench.render import OUTPUT_NAMES, markdown_table, write_outputs
from ..bench.spec import BenchmarkSpec
from ..bench.speed import run_benchmark
from ..files import check_report_output
from .app import app
from .options import parse_pair
from .progress import QUIET_HELP, progress_printer

PROFILE_FILES = ("profile.json", "profile.md", "profile_calls.txt")  # what write_profile writes


@app.command("benchmark")
def benchmark_cmd(
    tc: Optional[Path] = typer.Option(None, "--tc", help="Trained token_classifier pipeline folder"),
    ner: Optional[Path] = typer.Option(None, "--ner", help="Trained ner pipeline folder"),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="HF encoder folder for hf_pipeline and bare_forward (random head)"),
    data: Path = typer.Option(..., "--data", help="Gold DocBin (.spacy), e.g. corpus/conll2003/test.spacy"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for speed.json/.md/.png"),
    repeats: int = typer.Option(3, help="Timed passes per system (interleaved); medians are reported"),
    max_words: int = typer.Option(0, help="Only the first N words of the data (0: all)"),
    batch_size: Optional[int] = typer.Option(None, help="nlp.pipe batch size in docs (default: the pipeline's)"),
    hf_batch_size: int = typer.Option(32, help="hf_pipeline batch size (sentences)"),
    bare_batch_size: int = typer.Option(64, help="bare_forward batch size (sentences)"),
    bare_sort_by: str = typer.Option("wordpieces", help="bare_forward sorts sentences by wordpieces or words"),
    threads: Optional[int] = typer.Option(None, help="torch.set_num_threads (default: torch's)"),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="Also time the token_classifier with int8 dynamic quantization (and its F1)"),
    chunk_size: int = typer.Option(4, help="Run the pipelines' transformer in length-sorted chunks of N windows (spacy-bert-ner.TransformerModel.v1); 0: spacy-transformers' padding of every window to the longest"),
    rss: str = typer.Option("subprocess", help="Peak RSS: subprocess (per system, fresh process), process (this process so far) or none"),
    train_time: List[str] = typer.Option([], "--train-time", help="NAME=PATH of a train_time.json; repeat per system"),
    hf_recipe: Optional[Path] = typer.Option(None, "--hf-recipe", help="The HF recipe's JSON (train seconds and epochs)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Inference speed of the pipelines, HF's pipeline and the bare encoder on the same words."""
    try:
        train_times = dict(parse_pair(value, "--train-time") for value in train_time)
        check_report_output(
            output_dir, OUTPUT_NAMES.values(), [tc, ner, encoder, data, hf_recipe, *map(Path, train_times.values())]
        )
        spec = BenchmarkSpec(
            data_path=str(data), tc_dir=str(tc) if tc else None, ner_dir=str(ner) if ner else None,
            encoder_dir=str(encoder) if encoder else None, max_words=max_words, repeats=repeats,
            int8=int8 and tc is not None, chunk_size=chunk_size, spacy_batch_size=batch_size, hf_batch_size=hf_batch_size,
            bare_batch_size=bare_batch_size, bare_sort_by=bare_sort_by, threads=threads, rss=rss,
        )
        result = run_benchmark(
            spec, train_times=train_times, hf_recipe=hf_recipe, progress=progress_printer(quiet),
        )
    except (OSError, ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    paths = write_outputs(result, output_dir)
    typer.echo(markdown_table(result).split("## Definitions")[0].rstrip())
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")


@app.command("profile")
def profile_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder"),
    data_path: Path = typer.Argument(..., help="Gold DocBin (.spacy); its document texts are profiled"),
    output_dir: Path = typer.Argument(..., help="Folder for profile.json/.md (and profile_calls.txt)"),
    max_words: int = typer.Option(2000, help="Only the first N gold words (0: all)"),
    batch_size: Optional[int] = typer.Option(None, help="nlp.pipe batch size in docs (default: the pipeline's)"),
    pyinstrument: bool = typer.Option(True, "--pyinstrument/--no-pyinstrument", help="Also save pyinstrument's call tree of one nlp.pipe pass, where installed"),
    chunk_size: Optional[int] = typer.Option(None, help="Run the transformer in length-sorted chunks of N windows, as benchmark does (default: as saved; 0: padded)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Where inference time goes: a timer around each step nlp.pipe runs, and the encoder inside."""
    try:
        check_report_output(output_dir, PROFILE_FILES, [pipeline_dir, data_path])
        result = profile_pipeline(pipeline_dir, data_path, max_words=max_words, batch_size=batch_size,
                                  with_pyinstrument=pyinstrument, chunk_size=chunk_size,
                                  progress=progress_printer(quiet))
    except (OSError, ValueError) as err:
        msg.fail(str(err), exits=1)
    paths = write_profile(result, output_dir)
    typer.echo(profile_markdown(result))
    msg.good(f"Wrote {', '.join(str(p) for p in paths.values())}")

