"""Where a pipeline's inference time goes: step timers around what ``nlp.pipe`` does.

``nlp.pipe`` tokenizes each text, then runs every component's ``predict`` and
``set_annotations`` on batches of docs. :func:`profile_pipeline` does the same
steps itself with a timer around each, and times the encoder's forward calls
inside the transformer's ``predict`` (forward hooks on the HF torch module),
counting the positions they compute: real wordpieces and padding.
The predictions are the ones ``nlp.pipe`` makes; only the timing is added.
An optional pyinstrument profile of a plain ``nlp.pipe`` pass adds the
call tree (pyinstrument comes with the ``bench`` extra; skipped without it).
"""
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypedDict, Union

import spacy
from spacy.language import Language
from wasabi import MarkdownRenderer

from ..evaluation.pipeline_eval import require_inputs
from ..files import write_bytes_atomic, write_json_atomic
from ..util import hf_model
from .data import load_docs
from .env import HardwareInfo, hardware_info
from .records import EncoderSummary
from .spacy_systems import batching_label, sorted_batches_override, transformer_summary
from .timing import Progress, silent

ENCODER_STEP = "encoder forward (HF model)"
TOKENIZER_STEP = "spaCy tokenizer (make_doc)"
DEFINITION = (
    "one pass of the pipeline's steps over the texts, as nlp.pipe runs them, with a "
    "time.perf_counter timer around each step; the encoder step is inside the transformer's "
    "predict (its share is part of that step's); positions: the encoder's real wordpieces "
    "(with special tokens) and the positions computed after padding each forward call's rows"
)


class Step(TypedDict, total=False):
    """One timed step; ``inside`` names the step it is part of (its time is counted there too)."""

    step: str
    seconds: float
    inside: str
    share: float  # of the whole pass


class EncoderPositions(TypedDict):
    """What the encoder's forward calls did during the pass."""

    seconds: float
    calls: int
    rows: int
    real_positions: int
    padded_positions: int


class StepTimings(TypedDict):
    """One pass, step by step (``encoder`` is {} without a transformer)."""

    seconds: float
    spacy_tokens: int
    steps: List[Step]
    encoder: Union[EncoderPositions, Dict[str, Any]]


class TransformerDescription(EncoderSummary, total=False):
    batching: str


class Profile(StepTimings):
    """``profile.json`` (``pyinstrument``, the call tree, goes to its own text file)."""

    pipeline: str
    data: str
    docs: int
    words: int
    transformer: TransformerDescription
    batch_size: int
    words_per_second: Optional[float]
    pyinstrument: Optional[str]
    hardware: HardwareInfo
    definition: str


class EncoderTimer:
    """Forward hooks on the HF torch module: seconds inside it, rows, real and padded positions.

    Hooks see every forward call the module makes, after any batching the
    layers around it do (length-sorted chunks included).
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self.seconds = 0.0
        self.calls = self.rows = self.real_positions = self.padded_positions = 0
        self._started = 0.0
        self._handles: List[Any] = []

    def __enter__(self) -> "EncoderTimer":
        self._handles = [
            self.module.register_forward_pre_hook(self._before, with_kwargs=True),
            self.module.register_forward_hook(self._after),
        ]
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _before(self, module: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if input_ids is not None:
            self.rows += int(input_ids.shape[0])
            self.padded_positions += int(input_ids.numel())
            self.real_positions += int(mask.sum()) if mask is not None else int(input_ids.numel())
        self.calls += 1
        self._started = time.perf_counter()

    def _after(self, module: Any, args: Any, output: Any) -> None:
        self.seconds += time.perf_counter() - self._started


class MethodTimer:
    """Times a component's ``predict`` and ``set_annotations`` while its ``pipe`` calls them.

    Works where the component is a Python object whose ``pipe`` looks the
    methods up on ``self`` (spaCy's TrainablePipe, spacy-transformers'
    Transformer); a Cython component (spaCy's ``ner``) refuses the patch and
    is only timed as a whole.
    """

    METHODS = ("predict", "set_annotations")

    def __init__(self, component: Any) -> None:
        self.component = component
        self.seconds: Dict[str, float] = defaultdict(float)
        self.patched: List[str] = []

    def __enter__(self) -> "MethodTimer":
        for method in self.METHODS:
            try:
                setattr(self.component, method, self._timed(method, getattr(self.component, method)))
            except (AttributeError, TypeError):
                continue
            self.patched.append(method)
        return self

    def __exit__(self, *exc: Any) -> None:
        for method in self.patched:
            delattr(self.component, method)

    def _timed(self, method: str, inner: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[method] += time.perf_counter() - started

        return timed


def time_steps(nlp: Language, texts: Sequence[str], batch_size: int) -> StepTimings:
    """Seconds per step of one pass over ``texts``, as ``nlp.pipe(texts, batch_size)`` runs it.

    Steps: the tokenizer, then each component's ``pipe`` over all docs (the
    batching ``nlp.pipe`` gives it), with its predict/set_annotations and the
    encoder's forward calls timed inside. Positions: the encoder's real
    wordpieces (special tokens included) and the positions it computed once
    each call's rows were padded to the longest.
    """
    steps: List[Step] = []
    module = hf_model(nlp)  # the first transformer component's HF torch module
    encoder = EncoderTimer(module) if module is not None else None
    started = time.perf_counter()
    with encoder if encoder is not None else nullcontext():
        docs = [nlp.make_doc(text) for text in texts]
        steps.append({"step": TOKENIZER_STEP, "seconds": time.perf_counter() - started})
        for name, component in nlp.pipeline:
            encoder_before = encoder.seconds if encoder is not None else 0.0
            component_start = time.perf_counter()
            with MethodTimer(component) as methods:
                docs = list(component.pipe(docs, batch_size=batch_size))
            steps.append({"step": name, "seconds": time.perf_counter() - component_start})
            for method in methods.patched:
                steps.append({"step": f"{name}.{method}", "seconds": methods.seconds[method], "inside": name})
            if encoder is not None and encoder.seconds > encoder_before:
                steps.append({"step": ENCODER_STEP, "seconds": encoder.seconds - encoder_before, "inside": name})
    total = time.perf_counter() - started
    for step in steps:
        step["share"] = step["seconds"] / total if total else 0.0
    positions: Union[EncoderPositions, Dict[str, Any]] = {}
    if encoder is not None:
        positions = {
            "seconds": encoder.seconds, "calls": encoder.calls, "rows": encoder.rows,
            "real_positions": encoder.real_positions, "padded_positions": encoder.padded_positions,
        }
    return {"seconds": total, "spacy_tokens": sum(len(doc) for doc in docs), "steps": steps, "encoder": positions}


def pyinstrument_text(nlp: Language, texts: Sequence[str], batch_size: int, interval: float = 0.001) -> Optional[str]:
    """pyinstrument's text call tree of one ``nlp.pipe`` pass, or None where it is not installed."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    profiler = Profiler(interval=interval)
    profiler.start()
    list(nlp.pipe(texts, batch_size=batch_size))
    profiler.stop()
    return profiler.output_text(unicode=False, color=False, show_all=False)


def profile_pipeline(
    pipeline_dir: Union[str, Path], data_path: Union[str, Path], max_words: int = 2000,
    batch_size: Optional[int] = None, with_pyinstrument: bool = True, chunk_size: Optional[int] = None,
    progress: Progress = silent,
) -> Profile:
    """Step timings (after one warm-up batch) of the pipeline on the first ``max_words`` gold words.

    chunk_size: run the transformer in length-sorted chunks of N windows, as the
    speed benchmark does (None: as the pipeline was saved).
    progress: gets a line before each pass (warm-up, timed, pyinstrument), never inside one.
    """
    pipeline_dir, data_path = require_inputs(pipeline_dir, data_path)
    overrides = sorted_batches_override(pipeline_dir, chunk_size) if chunk_size is not None else {}
    progress(f"profile: loading {pipeline_dir}")
    nlp = spacy.load(pipeline_dir, config=overrides)
    docs = load_docs(data_path, max_words=max_words, vocab=nlp.vocab)
    if not docs:
        raise ValueError(f"{data_path}: no documents to profile")
    texts = [doc.text for doc in docs]
    batch_size = batch_size or nlp.batch_size
    progress("profile: warm-up")
    list(nlp.pipe(texts[:1]))  # warm-up: lazy initialisations, first allocations
    progress(f"profile: timed pass 1/1 over {len(docs)} docs")
    timings = time_steps(nlp, texts, batch_size)
    if with_pyinstrument:
        progress(f"profile: timed pass done in {timings['seconds']:.1f} s; pyinstrument pass (where installed)")
    words = sum(len(doc) for doc in docs)
    return {
        "pipeline": str(pipeline_dir), "data": str(data_path), "docs": len(docs), "words": words,
        "transformer": {**transformer_summary(nlp), "batching": batching_label(nlp)},
        "batch_size": batch_size,
        "words_per_second": words / timings["seconds"] if timings["seconds"] else None,
        **timings,
        "pyinstrument": pyinstrument_text(nlp, texts, batch_size) if with_pyinstrument else None,
        "hardware": hardware_info(),
        "definition": DEFINITION,
    }


def profile_markdown(result: Mapping[str, Any]) -> str:
    """The step table (and the encoder's positions) as Markdown."""
    md = MarkdownRenderer()
    hardware = result["hardware"]
    md.add(
        f"Pipeline {md.code(result['pipeline'])}, data {md.code(result['data'])}: {result['docs']} docs, "
        f"{result['words']:,} words ({result['spacy_tokens']:,} spaCy tokens), batch {result['batch_size']}; "
        f"{hardware['cpu']}, {hardware['cores']} cores, torch {hardware['torch']} with "
        f"{hardware['torch_threads']} threads. One pass: {result['seconds']:.2f} s "
        f"({result['words_per_second']:,.0f} words/s)."
    )
    md.add(f"Transformer: {_describe(result.get('transformer') or {})}.")
    rows = [
        [f"— {step['step']} (part of {step['inside']})" if step.get("inside") else step["step"],
         f"{step['seconds']:.3f}", f"{100 * step['share']:.1f}%"]
        for step in result["steps"]
    ]
    md.add(md.table(rows, ("Step", "s", "share"), ("l", "r", "r")))
    encoder = result.get("encoder")
    if encoder:
        padding = 1 - encoder["real_positions"] / encoder["padded_positions"] if encoder["padded_positions"] else 0.0
        md.add(
            f"Encoder: {encoder['calls']} forward calls, {encoder['rows']} windows, "
            f"{encoder['real_positions']:,} real positions, {encoder['padded_positions']:,} computed "
            f"({100 * padding:.1f}% padding)."
        )
    md.add(f"Definition: {result['definition']}.")
    return md.text + "\n"


def _describe(transformer: Mapping[str, Any]) -> str:
    parts = [f"{key} {transformer[key]}" for key in ("config_name", "windows", "inference_windows", "batching")
             if transformer.get(key) is not None]
    return ", ".join(parts) or "none"


def write_profile(result: Mapping[str, Any], output_dir: Union[str, Path]) -> Dict[str, Path]:
    """profile.json, profile.md and (with pyinstrument) profile_calls.txt, each written atomically."""
    output_dir = Path(output_dir)
    paths = {"json": output_dir / "profile.json", "md": output_dir / "profile.md"}
    data = {key: value for key, value in result.items() if key != "pyinstrument"}
    write_json_atomic(paths["json"], data)
    write_bytes_atomic(paths["md"], profile_markdown(result).encode("utf8"))
    if result.get("pyinstrument"):
        paths["calls"] = output_dir / "profile_calls.txt"
        write_bytes_atomic(paths["calls"], result["pyinstrument"].encode("utf8"))
    return paths
