"""Tiny random BERT encoders built locally, for tests and offline smoke runs.

Nothing here downloads: the WordPiece vocabulary is counted from words the caller
passes (e.g. a CoNLL-2003 slice), and the weights are random. The folder written
is a regular HuggingFace model folder (``config.json``, ``model.safetensors``,
``vocab.txt``, fast-tokenizer files), so ``AutoModel.from_pretrained`` and
spacy-transformers load it exactly as they load ``bert-base-cased``.
"""
from collections import Counter
from pathlib import Path
from typing import Iterable, List, Union

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
