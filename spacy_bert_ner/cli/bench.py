"""CLI commands: inference speed, profiles, and the int8 layers to keep in fp32."""
import sys
from pathlib import Path
from typing import List, Optional

import typer
from wasabi import msg

from ..bench.int8_selection import read_chosen, select_int8
from ..bench.kernels import clean_blas_environment
from ..bench.profiling import profile_markdown, profile_pipeline, write_profile
from ..bench.render import OUTPUT_NAMES, markdown_table, write_outputs
from ..bench.spec import BenchmarkSpec
from ..bench.speed import run_benchmark
from ..files import JSON_FILE, check_output, check_report_output, write_json_atomic
from .app import app
from .options import parse_pair, split_values
from .progress import QUIET_HELP, progress_printer

PROFILE_FILES = ("profile.json", "profile.md", "profile_calls.txt")  # what write_profile writes


@app.command("benchmark")
def benchmark_cmd(
    tc: Optional[Path] = typer.Option(None, "--tc", help="Trained token_classifier pipeline folder"),
    ner: Optional[Path] = typer.Option(None, "--ner", help="Trained ner pipeline folder"),
    encoder: Optional[Path] = typer.Option(None, "--encoder", help="HF encoder folder for hf_pipeline and bare_forward (random head)"),
    pipeline: List[str] = typer.Option([], "--pipeline", help="NAME=FOLDER: one more trained pipeline timed in fp32 beside the others (e.g. on a larger encoder); repeat per pipeline"),
    data: Path = typer.Option(..., "--data", help="Gold DocBin (.spacy), e.g. corpus/conll2003/test.spacy"),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for speed.json/.md/.png"),
    repeats: int = typer.Option(3, help="Timed passes per system (interleaved); medians are reported"),
    max_words: int = typer.Option(0, help="Only the first N words of the data (0: all)"),
    batch_size: Optional[int] = typer.Option(None, help="nlp.pipe batch size in docs (default: the pipeline's)"),
    hf_batch_size: int = typer.Option(32, help="hf_pipeline batch size (sentences)"),
    bare_batch_size: int = typer.Option(64, help="bare_forward batch size (sentences)"),
    bare_sort_by: str = typer.Option("wordpieces", help="bare_forward sorts sentences by wordpieces or words"),
    threads: Optional[int] = typer.Option(None, help="torch.set_num_threads (default: torch's)"),
    int8: bool = typer.Option(True, "--int8/--no-int8", help="Also time the token_classifier with int8 dynamic quantization (and its F1); --no-int8 drops int8 from --precision"),
    precision: List[str] = typer.Option([], "--precision", help="Precision twins of the token_classifier to time, each with its F1: bf16, int8, onnx, onnx-int8; repeat or comma-separate (default: int8)"),
    ner_precision: List[str] = typer.Option([], "--ner-precision", help="Precision twins of the ner pipeline (same modes; default: none)"),
    fp32_module: List[str] = typer.Option([], "--fp32-module", help="fnmatch pattern of an encoder Linear layer the int8 modes leave in fp32 (from select-int8); repeat or comma-separate"),
    int8_selection: Optional[Path] = typer.Option(None, "--int8-selection", help="select-int8's JSON (chosen on dev): its groups stay fp32 in the int8 modes, with any --fp32-module"),
    int8_per_channel: bool = typer.Option(False, "--int8-per-channel/--int8-per-tensor", help="int8 weight scales per output channel or per matrix"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="-1 = CPU; N = run every system on GPU N (bf16 only among the lower precisions)"),
    peak: bool = typer.Option(True, "--peak/--no-peak", help="Measure the matmul peak at the encoder's shapes and record the kernels (FLOP/s over peak per system)"),
    chunk_size: int = typer.Option(4, help="Run the pipelines' transformer in length-sorted chunks of N windows (spacy-bert-ner.TransformerModel.v1); 0: spacy-transformers' padding of every window to the longest"),
    rss: str = typer.Option("subprocess", help="Peak RSS: subprocess (per system, fresh process), process (this process so far) or none"),
    train_time: List[str] = typer.Option([], "--train-time", help="NAME=PATH of a train_time.json; repeat per system"),
    hf_recipe: Optional[Path] = typer.Option(None, "--hf-recipe", help="The HF recipe's JSON (train seconds and epochs)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Inference speed of the pipelines, HF's pipeline and the bare encoder on the same words."""
    clean_blas_environment(sys.argv)  # restarts without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE where set
    try:
        train_times = dict(parse_pair(value, "--train-time") for value in train_time)
        extra = [parse_pair(value, "--pipeline") for value in pipeline]
        check_report_output(output_dir, OUTPUT_NAMES.values(), [
            tc, ner, encoder, data, hf_recipe, int8_selection, *map(Path, train_times.values()),
            *(Path(path) for _, path in extra),
        ])
        fp32_modules = split_values(fp32_module) + tuple(read_chosen(int8_selection) if int8_selection else ())
        spec = BenchmarkSpec(
            data_path=str(data), tc_dir=str(tc) if tc else None, ner_dir=str(ner) if ner else None,
            encoder_dir=str(encoder) if encoder else None, max_words=max_words, repeats=repeats,
            int8=int8 and tc is not None, chunk_size=chunk_size, spacy_batch_size=batch_size, hf_batch_size=hf_batch_size,
            bare_batch_size=bare_batch_size, bare_sort_by=bare_sort_by, threads=threads, rss=rss,
            precisions=split_values(precision) or ("int8",), ner_precisions=split_values(ner_precision),
            fp32_modules=fp32_modules, int8_per_channel=int8_per_channel, peak=peak, gpu_id=gpu_id,
            extra_pipelines=tuple(extra),
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


@app.command("select-int8")
def select_int8_cmd(
    pipeline_dir: Path = typer.Argument(..., help="Trained pipeline folder (token_classifier or ner)"),
    data_path: Path = typer.Argument(..., help="Gold DocBin to choose on: the DEV set (corpus/conll2003/dev.spacy)"),
    output: Path = typer.Argument(..., help="JSON file for the selection (e.g. reports/conll2003/int8_selection.json)"),
    mode: str = typer.Option("int8", help="int8 (torch) or onnx-int8 (ONNX Runtime)"),
    int8_per_channel: bool = typer.Option(False, "--int8-per-channel/--int8-per-tensor", help="int8 weight scales per output channel or per matrix"),
    tolerance: float = typer.Option(0.1, help="Keep layers in fp32 until dev F1 is at most this many points below fp32"),
    max_words: int = typer.Option(0, help="Only the first N words of the data (0: all)"),
    force: bool = typer.Option(False, "--force", help="Replace an existing file that is not JSON"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Choose on dev which encoder Linear layers the int8 modes keep in fp32 (for benchmark --fp32-module)."""
    try:
        check_output(output, JSON_FILE, inputs=[pipeline_dir, data_path], force=force)
        selection = select_int8(pipeline_dir, data_path, mode=mode, per_channel=int8_per_channel,
                                tolerance=tolerance, max_words=max_words, progress=progress_printer(quiet))
    except (OSError, ValueError, RuntimeError) as err:
        msg.fail(str(err), exits=1)
    write_json_atomic(output, selection.to_json())
    flags = " ".join(f"--fp32-module '{pattern}'" for pattern in selection.chosen) or "(none: all int8)"
    status = "within" if selection.within_tolerance else "NOT within"
    msg.good(f"dev F1 {selection.chosen_f1 * 100:.2f} vs fp32 {selection.fp32_f1 * 100:.2f} ({status} "
             f"{selection.tolerance_points:g} points) keeping {len(selection.chosen)} group(s) in fp32: {flags}")
    msg.good(f"Wrote {output}")
