"""Tiny random checkpoints for tests: a directory that from_pretrained and AutoTokenizer read offline.

Each `make_*_checkpoint(path, ...)` writes config.json, the weights and a small tokenizer into
`path` and returns it. The tokenizers are trained in memory on CORPUS (milliseconds) with
`build_tokenizer`, which makers for other architectures can reuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

#: Text the test tokenizers are trained on: enough for real merges, small enough to train instantly.
CORPUS = [
    "What is the boundary layer of a flat plate in supersonic flow?",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Heat transfer to a blunt body at hypersonic speeds depends on the nose radius.",
    "Cross-encoders read the query and the document together and return one relevance score.",
    "Retrieval systems rank documents; rerankers reorder the first stage's top hundred results.",
    "Numbers such as 1, 2, 3, 10, 100 and 2024 appear in scientific abstracts as well.",
]

TokenizerStyle = Literal["roberta", "bert"]


#: query-document pairs of many lengths (one pair of single tokens, one long document): engine tests
PAIRS = [
    ("boundary layer", "The boundary layer of a flat plate in supersonic flow grows with distance."),
    ("heat transfer", "Heat transfer to a blunt body at hypersonic speeds depends on the nose radius."),
    ("fox", "The quick brown fox jumps over the lazy dog near the river bank."),
    ("numbers", "Numbers such as 1, 2, 3, 10, 100 and 2024 appear in scientific abstracts as well."),
    ("rerankers", "Rerankers reorder the first stage's top hundred results."),
    ("a", "b"),
    ("cross-encoders read the query and the document together", "one relevance score " * 12),
]


def build_tokenizer(
    *, style: TokenizerStyle = "roberta", vocab_size: int = 400, model_max_length: int = 512
) -> PreTrainedTokenizerFast:
    """A trained-in-memory tokenizer that handles any text offline.

    "roberta": byte-level BPE, specials <s>=0 <pad>=1 </s>=2 <unk>=3 <mask>=4, pairs as
    `<s> a </s></s> b </s>` (the jina-reranker-v1 tokenizer's layout; no token_type_ids).
    "bert": lower-casing WordPiece, [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, pairs as
    `[CLS] a [SEP] b [SEP]` with token_type_ids.
    The vocabulary can come out smaller than vocab_size; len(tokenizer) is the real size.
    """
    if style == "roberta":
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(CORPUS, trainer)
        tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
        names = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>")
        names |= dict(unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    elif style == "bert":
        # An explicit vocabulary, not a trained one: tokenizers' WordPiece trainer breaks ties
        # differently from run to run, which made ids (and so random-model scores) vary.
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        normalizer = normalizers.BertNormalizer(lowercase=True)
        alphabet = sorted({normalizer.normalize_str(chr(c)) for c in range(33, 127)} - {""})
        words = sorted({w for text in CORPUS for w, _ in
                        pre_tokenizers.BertPreTokenizer().pre_tokenize_str(normalizer.normalize_str(text))})
        pieces = list(dict.fromkeys(specials + alphabet + [f"##{c}" for c in alphabet] + words))[:vocab_size]
        tokenizer = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(pieces)}, unk_token="[UNK]"))
        tokenizer.normalizer = normalizer
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
        names = dict(cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]", pad_token="[PAD]", mask_token="[MASK]")
        names |= dict(model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    else:
        raise ValueError(f"unknown tokenizer style {style!r}; use 'roberta' or 'bert'")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=model_max_length, **names)


def save_seeded(model_class, config, tokenizer, path: Path, *, seed: int) -> Path:
    """Build `model_class(config)` from `seed` without touching the caller's RNG; save it with the tokenizer."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def jinabert_state_dict(
    *,
    layers: int,
    hidden: int,
    intermediate: int,
    vocab: int,
    type_vocab: int = 2,
    num_labels: int = 1,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Random weights under the jina-reranker-v1 key names (`bert.` prefix, `classifier.*` head).

    Written out by hand rather than taken from bench's model, so that loading tests check the
    model against the published layout. Scales keep activations lively: attention is not uniform.
    """
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std

    def linear(name: str, fan_out: int, fan_in: int, *, bias: bool = True) -> dict[str, torch.Tensor]:
        weights = {f"{name}.weight": normal(fan_out, fan_in, std=fan_in**-0.5)}
        return weights | ({f"{name}.bias": normal(fan_out, std=0.1)} if bias else {})

    def layer_norm(name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": 1 + normal(hidden, std=0.1), f"{name}.bias": normal(hidden, std=0.1)}

    state = {
        "bert.embeddings.word_embeddings.weight": normal(vocab, hidden, std=1.0),
        "bert.embeddings.token_type_embeddings.weight": normal(type_vocab, hidden, std=1.0),
        **layer_norm("bert.embeddings.LayerNorm"),
    }
    for n in range(layers):
        block = f"bert.encoder.layer.{n}"
        for part in ("query", "key", "value"):
            state |= linear(f"{block}.attention.self.{part}", hidden, hidden)
        state |= linear(f"{block}.attention.output.dense", hidden, hidden)
        state |= layer_norm(f"{block}.attention.output.LayerNorm")
        state |= linear(f"{block}.mlp.gated_layers", 2 * intermediate, hidden, bias=False)
        state |= linear(f"{block}.mlp.wo", hidden, intermediate)
        state |= layer_norm(f"{block}.mlp.layernorm")
    state |= linear("bert.pooler.dense", hidden, hidden)
    state |= linear("classifier", num_labels, hidden)
    return state


def make_jinabert_checkpoint(
    path: str | Path,
    *,
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    intermediate: int = 128,
    vocab: int = 512,
    feed_forward_type: str = "geglu",
    prefix: str = "bert.",
    classifier: bool | None = None,
    max_position_embeddings: int = 8192,
    dtype: torch.dtype = torch.float32,
    weights_format: Literal["safetensors", "pickle"] = "safetensors",
    seed: int = 0,
) -> Path:
    """A random JinaBERT checkpoint laid out like jina-reranker-v1-*-en, and its tokenizer.

    config.json has model_type "bert", position_embedding_type "alibi", architectures
    ["JinaBertModel"], an auto_map and no num_labels (as published). prefix="" (with classifier
    defaulting to False) gives the jina-embeddings-v2 layout: an unprefixed encoder, no head.
    weights_format="pickle" writes pytorch_model.bin instead of model.safetensors.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(style="roberta", vocab_size=min(vocab, 400), model_max_length=max_position_embeddings)
    vocab = max(vocab, len(tokenizer))
    tokenizer.save_pretrained(path)
    config = {
        "_name_or_path": "jinaai/jina-bert-implementation",
        "architectures": ["JinaBertModel"],
        "attention_probs_dropout_prob": 0.1,
        "attn_implementation": "torch",
        "auto_map": {
            "AutoConfig": "configuration_bert.JinaBertConfig",
            "AutoModel": "modeling_bert.JinaBertModel",
            "AutoModelForSequenceClassification": "modeling_bert.JinaBertForSequenceClassification",
        },
        "classifier_dropout": None,
        "emb_pooler": "mean",
        "feed_forward_type": feed_forward_type,
        "gradient_checkpointing": False,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden,
        "initializer_range": 0.02,
        "intermediate_size": intermediate,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": max_position_embeddings,
        "model_type": "bert",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 0,
        "position_embedding_type": "alibi",
        "torch_dtype": str(dtype).removeprefix("torch."),
        "transformers_version": "4.30.2",
        "type_vocab_size": 2,
        "use_cache": True,
        "vocab_size": vocab,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2))
    state = jinabert_state_dict(layers=layers, hidden=hidden, intermediate=intermediate, vocab=vocab, seed=seed)
    keep_head = prefix == "bert." if classifier is None else classifier
    state = {
        key if key.startswith("classifier.") else prefix + key.removeprefix("bert."): tensor.to(dtype).contiguous()
        for key, tensor in state.items()
        if keep_head or not key.startswith("classifier.")
    }
    if weights_format == "pickle":
        torch.save(state, path / "pytorch_model.bin")
    else:
        save_file(state, path / "model.safetensors", metadata={"format": "pt"})
    return path


def make_bert_checkpoint(
    path: str | Path,
    *,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    intermediate: int = 64,
    num_labels: int = 1,
    seed: int = 0,
    initializer_range: float = 0.2,
) -> Path:
    """A random transformers BertForSequenceClassification (max length 512) with a WordPiece tokenizer.

    initializer_range is 10x BERT's default so that random scores differ clearly between pairs
    (with 0.02 a 2-layer model's logits spread by ~1e-4, too little for comparisons to prove much).
    """
    from transformers import BertConfig, BertForSequenceClassification

    path = Path(path)
    tokenizer = build_tokenizer(style="bert", vocab_size=400, model_max_length=512)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=512,
        num_labels=num_labels,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=initializer_range,
    )
    return save_seeded(BertForSequenceClassification, config, tokenizer, path, seed=seed)


def make_xlmr_checkpoint(
    path: str | Path,
    *,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    intermediate: int = 64,
    max_length: int = 128,
    num_labels: int = 1,
    initializer_range: float = 0.2,
    seed: int = 0,
) -> Path:
    """A random XLMRobertaForSequenceClassification (bge-reranker-base's class) and a RoBERTa-style tokenizer.

    Laid out like the real one: pairs as `<s> a </s></s> b </s>` with no token_type_ids,
    pad_token_id 1, one token type, and positions offset by pad+1 (so max_position_embeddings is
    max_length + 2). The tokenizer is byte-level BPE rather than SentencePiece; the model cannot tell.
    """
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    path = Path(path)
    tokenizer = build_tokenizer(style="roberta", vocab_size=400, model_max_length=max_length)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_length + 2,
        type_vocab_size=1,
        num_labels=num_labels,
        initializer_range=initializer_range,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return save_seeded(XLMRobertaForSequenceClassification, config, tokenizer, path, seed=seed)


def make_deberta_v2_checkpoint(
    path: str | Path,
    *,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    intermediate: int = 64,
    max_length: int = 128,
    num_labels: int = 1,
    initializer_range: float = 0.2,
    seed: int = 0,
) -> Path:
    """A random DebertaV2ForSequenceClassification (mxbai-rerank's class) and a WordPiece tokenizer.

    Configured like DeBERTa-v3: relative attention with log buckets (c2p and p2c), no absolute
    position input, no token-type embeddings (type_vocab_size 0), pairs as `[CLS] a [SEP] b [SEP]`
    with token_type_ids (ignored by the model, as in the real checkpoints). initializer_range and
    num_labels as for `make_xlmr_checkpoint`.
    """
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    path = Path(path)
    tokenizer = build_tokenizer(style="bert", vocab_size=400, model_max_length=max_length)
    config = DebertaV2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_length,
        type_vocab_size=0,
        relative_attention=True,
        max_relative_positions=-1,
        position_buckets=32,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        num_labels=num_labels,
        initializer_range=initializer_range,
        pad_token_id=tokenizer.pad_token_id,
    )
    return save_seeded(DebertaV2ForSequenceClassification, config, tokenizer, path, seed=seed)
