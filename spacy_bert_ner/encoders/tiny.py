"""Tiny random encoders built locally (BERT, DistilBERT, RoBERTa, DeBERTa-v3, XLM-R), for tests and smoke runs.

Nothing here downloads: the vocabulary is counted or trained from words the
caller passes (e.g. a CoNLL-2003 slice), and the weights are random. The folder
written is a regular HuggingFace model folder (``config.json``,
``model.safetensors``, fast-tokenizer files), so ``AutoModel.from_pretrained``
and spacy-transformers load it exactly as they load ``bert-base-cased``.
"""
import json
from collections import Counter
from pathlib import Path
from typing import Iterable, List, Tuple, Union

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_wordpiece_vocab(
    words: Iterable[str], *, max_words: int = 2000, lowercase: bool = False
) -> List[str]:
    """A small but real WordPiece vocabulary.

    Frequent whole words, every character seen (as a word start and as a
    ``##`` continuation) and frequent word-initial / continuation trigrams, so
    rarer words split into several pieces the way they do with a full vocab.
    """
    counts: Counter = Counter()
    chars: Counter = Counter()
    for word in words:
        word = word.lower() if lowercase else word
        counts[word] += 1
        chars.update(word)
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)

    def add(piece: str) -> None:
        if piece and piece not in seen:
            seen.add(piece)
            vocab.append(piece)

    for char, _ in chars.most_common():
        add(char)
        add("##" + char)
    trigrams: Counter = Counter()
    for word, n in counts.items():
        if len(word) > 3:
            trigrams[word[:3]] += n
            trigrams["##" + word[3:6]] += n
    for piece, _ in trigrams.most_common(max_words // 2):
        add(piece)
    for word, _ in counts.most_common(max_words):
        add(word)
    return vocab


def build_tiny_bert(
    output_dir: Union[str, Path],
    words: Iterable[str],
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    max_words: int = 2000,
    lowercase: bool = False,
    seed: int = 0,
) -> Path:
    """Write a random BERT + fast WordPiece tokenizer to ``output_dir``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    vocab = build_wordpiece_vocab(words, max_words=max_words, lowercase=lowercase)
    vocab_path = output_dir / "vocab.txt"
    vocab_path.write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(vocab_path), do_lower_case=lowercase, model_max_length=512
    )
    tokenizer.save_pretrained(str(output_dir))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(str(output_dir), safe_serialization=True)
    return output_dir


# ---- other encoder families ------------------------------------------------
#
# One tiny random model per tokenizer family the project supports. The
# tokenizers are trained with the ``tokenizers`` library (seconds, no extra
# dependency) and assembled the way ``transformers.convert_slow_tokenizer``
# assembles the hub models' fast tokenizers, so they split text the way
# roberta-base, deberta-v3-base and xlm-roberta-base do (with a toy vocabulary).

FAMILIES = ("bert", "distilbert", "roberta", "deberta-v2", "xlm-roberta")
BPE_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # roberta-base's ids 0..4
DEBERTA_SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]  # deberta-v3: 0..3, [MASK] last
XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # xlm-roberta: 0..3, <mask> last


def build_tiny_encoder(
    family: str,
    output_dir: Union[str, Path],
    words: Iterable[str],
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    vocab_size: int = 1500,
    add_prefix_space: bool = False,
    seed: int = 0,
) -> Path:
    """Write a random ``family`` encoder + fast tokenizer to ``output_dir``.

    family: ``bert`` and ``distilbert`` (WordPiece, ``##`` continuations;
    DistilBERT has no token type ids), ``roberta`` (byte-level BPE, ``Ġ``
    marks a leading space), ``deberta-v2`` (DeBERTa-v3's SentencePiece
    Unigram tokenizer, ``▁`` marks a word start) or ``xlm-roberta``
    (SentencePiece Unigram with XLM-R's special tokens).
    vocab_size: target size of the BPE / Unigram vocabulary (WordPiece uses
        ``build_wordpiece_vocab`` with ``max_words=vocab_size``).
    add_prefix_space: byte-level BPE only; stored in the tokenizer config as
        roberta-base stores ``False``. HF's pre-split-words recipe needs True.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown encoder family {family!r}; expected one of {', '.join(FAMILIES)}")
    words = list(words)
    if not words:
        raise ValueError("build_tiny_encoder needs some words to build its vocabulary, got none")
    if family == "bert":
        return build_tiny_bert(
            output_dir, words, hidden_size=hidden_size, num_layers=num_layers,
            num_heads=num_heads, max_words=vocab_size, seed=seed,
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    sizes = dict(hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads)
    if family == "distilbert":
        n_vocab = _save_distilbert_tokenizer(output_dir, words, vocab_size)
    elif family == "roberta":
        n_vocab = _save_roberta_tokenizer(output_dir, words, vocab_size, add_prefix_space)
    else:
        n_vocab = _save_unigram_tokenizer(family, output_dir, words, vocab_size)
    _save_random_model(family, output_dir, n_vocab, seed=seed, **sizes)
    return output_dir


def _save_distilbert_tokenizer(output_dir: Path, words: List[str], vocab_size: int) -> int:
    from transformers import DistilBertTokenizerFast

    vocab = build_wordpiece_vocab(words, max_words=vocab_size)
    vocab_path = output_dir / "vocab.txt"
    vocab_path.write_text("\n".join(vocab) + "\n", encoding="utf8")
    tokenizer = DistilBertTokenizerFast(
        vocab_file=str(vocab_path), do_lower_case=False, model_max_length=512
    )
    tokenizer.save_pretrained(str(output_dir))
    return len(vocab)


def _save_roberta_tokenizer(
    output_dir: Path, words: List[str], vocab_size: int, add_prefix_space: bool
) -> int:
    """Byte-level BPE as in roberta-base (``RobertaConverter``), trained on ``words``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import RobertaTokenizerFast

    backend = Tokenizer(models.BPE(continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    # Train on words as they occur inside a sentence (after a space): "Ġword".
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BPE_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_word_lines(words), trainer=trainer)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.RobertaProcessing(
        sep=("</s>", 2), cls=("<s>", 0), add_prefix_space=add_prefix_space, trim_offsets=True
    )
    tokenizer = RobertaTokenizerFast(
        tokenizer_object=backend, add_prefix_space=add_prefix_space, model_max_length=512,
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
    )
    tokenizer.save_pretrained(str(output_dir))
    return backend.get_vocab_size()


def _save_unigram_tokenizer(family: str, output_dir: Path, words: List[str], vocab_size: int) -> int:
    """SentencePiece Unigram: a real ``spm.model`` plus the fast tokenizer HF converts it to.

    The Unigram model is trained with ``tokenizers`` (seconds, no
    ``sentencepiece`` needed), written as a SentencePiece ``ModelProto``
    (identity normalizer, so no precompiled character map) and assembled into
    a fast tokenizer exactly as ``DebertaV2Converter`` / ``XLMRobertaConverter``
    would from that file. spacy-transformers reads the ``vocab_file`` of such
    tokenizers when it loads and saves them, so the file must exist.
    Needs ``protobuf`` (transformers' bundled ``sentencepiece_model.proto``).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors, trainers
    from transformers import DebertaV2TokenizerFast, XLMRobertaTokenizerFast

    deberta = family == "deberta-v2"
    specials, mask = (DEBERTA_SPECIALS[:4], "[MASK]") if deberta else (XLMR_SPECIALS[:4], "<mask>")
    unk = specials[3]
    metaspace = dict(replacement="\u2581", prepend_scheme="always")
    trainer_backend = Tokenizer(models.Unigram())
    trainer_backend.pre_tokenizer = pre_tokenizers.Metaspace(**metaspace)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token=unk,
        max_piece_length=12, show_progress=False,
    )
    trainer_backend.train_from_iterator(_word_lines(words), trainer=trainer)
    # [(piece, log-prob)], specials first, in id order
    scored = json.loads(trainer_backend.to_str())["model"]["vocab"]
    scored = [(piece, float(score)) for piece, score in scored]
    normal = [(piece, score) for piece, score in scored if piece not in specials]
    spm_path = output_dir / ("spm.model" if deberta else "sentencepiece.bpe.model")
    if deberta:
        # deberta-v3's spm.model: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3; [MASK] is added by HF.
        proto_pieces = [(piece, 0.0, "CONTROL") for piece in specials[:3]] + [(unk, 0.0, "UNKNOWN")]
        hf_vocab = [(piece, 0.0) for piece in specials] + normal
        ids = dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3)
    else:
        # fairseq layout: the file holds <unk>=0 <s>=1 </s>=2; HF shifts by one and
        # puts <s> <pad> </s> <unk> first and <mask> last (XLMRobertaConverter.vocab).
        proto_pieces = [("<unk>", 0.0, "UNKNOWN"), ("<s>", 0.0, "CONTROL"), ("</s>", 0.0, "CONTROL")]
        hf_vocab = [(piece, 0.0) for piece in specials] + normal
        ids = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    proto_pieces += [(piece, score, "NORMAL") for piece, score in normal]
    _write_spm_model(spm_path, proto_pieces, **ids)

    unk_id = [piece for piece, _ in hf_vocab].index(unk)
    backend = Tokenizer(models.Unigram(hf_vocab, unk_id=unk_id, byte_fallback=False))
    backend.add_tokens([AddedToken(piece, normalized=False, special=True) for piece in specials if piece != unk])
    backend.add_special_tokens([AddedToken(mask, normalized=False, special=True)])
    backend.decoder = decoders.Metaspace(**metaspace)
    if deberta:
        backend.normalizer = normalizers.Sequence(
            [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
        )
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(**metaspace)])
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0",
            pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", 1), ("[SEP]", 2)],
        )
        tokenizer = DebertaV2TokenizerFast(
            vocab_file=str(spm_path), tokenizer_object=backend, do_lower_case=False,
            split_by_punct=False, model_max_length=512, bos_token="[CLS]", eos_token="[SEP]",
            unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
            mask_token="[MASK]",
        )
    else:
        backend.normalizer = normalizers.Sequence([
            normalizers.Strip(left=False, right=True),
            normalizers.Replace(Regex(" {2,}"), "\u2581"),
        ])
        backend.pre_tokenizer = pre_tokenizers.Metaspace(**metaspace)
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>",
            pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", 0), ("</s>", 2)],
        )
        tokenizer = XLMRobertaTokenizerFast(
            vocab_file=str(spm_path), tokenizer_object=backend, model_max_length=512,
            bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
            unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        )
    tokenizer.save_pretrained(str(output_dir))
    return backend.get_vocab_size()


def _write_spm_model(
    path: Path, pieces: List[Tuple[str, float, str]], *, unk_id: int, bos_id: int, eos_id: int, pad_id: int
) -> None:
    """A SentencePiece Unigram ``ModelProto`` (loadable by ``sentencepiece`` and HF's converters)."""
    try:
        from transformers.convert_slow_tokenizer import import_protobuf

        model_pb2 = import_protobuf()
    except ImportError as err:
        raise ImportError(
            f"writing {path.name} for a tiny SentencePiece encoder needs protobuf; "
            "pip install protobuf"
        ) from err
    proto = model_pb2.ModelProto()
    proto.trainer_spec.model_type = model_pb2.TrainerSpec.UNIGRAM
    proto.trainer_spec.vocab_size = len(pieces)
    proto.trainer_spec.unk_id = unk_id
    proto.trainer_spec.bos_id = bos_id
    proto.trainer_spec.eos_id = eos_id
    proto.trainer_spec.pad_id = pad_id
    proto.trainer_spec.byte_fallback = False
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = True
    proto.normalizer_spec.escape_whitespaces = True
    for piece, score, kind in pieces:
        entry = proto.pieces.add()
        entry.piece = piece
        entry.score = score
        entry.type = getattr(model_pb2.ModelProto.SentencePiece, kind)
    path.write_bytes(proto.SerializeToString())


def _word_lines(words: List[str], per_line: int = 40) -> Iterable[str]:
    for start in range(0, len(words), per_line):
        yield " ".join(words[start : start + per_line])


def _save_random_model(
    family: str, output_dir: Path, vocab_size: int, *,
    hidden_size: int, num_layers: int, num_heads: int, seed: int,
) -> None:
    import torch
    from transformers import (
        DebertaV2Config, DebertaV2Model, DistilBertConfig, DistilBertModel,
        RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaModel,
    )

    torch.manual_seed(seed)
    if family == "distilbert":
        model = DistilBertModel(DistilBertConfig(
            vocab_size=vocab_size, dim=hidden_size, n_layers=num_layers, n_heads=num_heads,
            hidden_dim=hidden_size * 2, max_position_embeddings=512,
        ))
    elif family in ("roberta", "xlm-roberta"):
        config_class, model_class = (
            (RobertaConfig, RobertaModel) if family == "roberta" else (XLMRobertaConfig, XLMRobertaModel)
        )
        # Positions start after the padding index (1), hence 512 + 2.
        model = model_class(config_class(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
            num_attention_heads=num_heads, intermediate_size=hidden_size * 2,
            max_position_embeddings=514, pad_token_id=1, bos_token_id=0, eos_token_id=2,
            type_vocab_size=1,
        ))
    else:
        # deberta-v3-base's settings: relative attention, no absolute positions, no token types.
        model = DebertaV2Model(DebertaV2Config(
            vocab_size=vocab_size, hidden_size=hidden_size, num_hidden_layers=num_layers,
            num_attention_heads=num_heads, intermediate_size=hidden_size * 2,
            max_position_embeddings=512, relative_attention=True, position_buckets=256,
            norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
            layer_norm_eps=1e-7, max_relative_positions=-1, position_biased_input=False,
            type_vocab_size=0, pad_token_id=0,
        ))
    model.save_pretrained(str(output_dir), safe_serialization=True)
