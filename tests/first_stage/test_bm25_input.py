"""BM25 refuses a corpus with nothing to index instead of failing inside bm25s."""

import pytest

from bench.data.records import Document
from bench.errors import InputError
from bench.first_stage.bm25 import BM25


def test_a_corpus_of_stopwords_only_is_an_input_error_naming_the_setting():
    corpus = {"d1": Document(id="d1", title="", text="the and of"), "d2": Document(id="d2", title="A", text="it is")}
    with pytest.raises(InputError, match=r"none of the 2 documents .* first_stage.bm25.stopwords=null"):
        BM25(cache=False).index(corpus)


def test_the_same_corpus_indexes_without_stopword_removal():
    corpus = {"d1": Document(id="d1", title="", text="the and of"), "d2": Document(id="d2", title="A", text="it is")}
    bm25 = BM25(cache=False, stopwords=None)
    bm25.index(corpus)
    assert set(bm25.search({"q": "the"}, top_k=2)["q"]) == {"d1"}
