"""Text features of the triage models: TF-IDF word (1-2) and character (2-5) n-grams.

One :class:`TextFeatures` is fitted on the training texts (no labels involved) and shared by
every target's model, so a request is turned into features once, not once per target.  A
single request goes through a direct implementation of the same arithmetic as scikit-learn's
``TfidfVectorizer.transform`` (same analyzers, vocabulary, sublinear tf, idf and L2 norm; a
test checks they agree), which skips the per-call validation that costs more than the work for
one short text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion


def make_vectorizer(n: int) -> FeatureUnion:
    min_df = 2 if n >= 500 else 1
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    min_df=min_df,
                    max_features=300_000,
                    token_pattern=r"(?u)\b\w+\b",
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=min_df,
                    max_features=300_000,
                ),
            ),
        ]
    )


class TextFeatures:
    """A fitted word + character TF-IDF union, its feature names, and a fast path for a few
    texts."""

    def fit(self, texts: Sequence[str]) -> TextFeatures:
        self.union = make_vectorizer(len(texts))
        self.union.fit(list(texts))
        self.names = self.union.get_feature_names_out()
        self._prepare()
        return self

    def _prepare(self) -> None:
        self._parts = []
        offset = 0
        for _name, vec in self.union.transformer_list:
            self._parts.append(
                (vec.build_analyzer(), vec.vocabulary_, vec.idf_.astype(np.float64), offset)
            )
            offset += len(vec.vocabulary_)
        self.n_features = offset

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_parts", None)  # analyzers are closures: rebuilt on load
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._prepare()

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        texts = list(texts)
        if len(texts) > 8:
            return sparse.csr_matrix(self.union.transform(texts))
        indptr, indices, data = [0], [], []
        for text in texts:
            for analyze, vocab, idf, offset in self._parts:
                counts = Counter(analyze(text))
                cols = []
                vals = []
                for term, c in counts.items():
                    j = vocab.get(term)
                    if j is not None:
                        cols.append(j)
                        vals.append((1.0 + np.log(c)) * idf[j])
                if cols:
                    order = np.argsort(cols)
                    v = np.asarray(vals)[order]
                    v /= np.sqrt(np.dot(v, v))
                    indices.extend(np.asarray(cols)[order] + offset)
                    data.extend(v)
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int32), indptr),
            shape=(len(texts), self.n_features),
        )

    def name(self, i: int) -> str:
        return str(self.names[i]).split("__", 1)[-1]
