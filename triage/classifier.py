"""The triage text classifier: TF-IDF word and character n-grams with a calibrated linear model,
blended with similarity-weighted votes of the nearest training tickets in embedding space.

A scikit-learn estimator: ``fit`` returns self, learned attributes end in ``_``, nothing happens
in ``__init__``.  Inputs are texts plus, optionally, their sentence embeddings (the encoder stays
in ``models/``; the caller passes vectors).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC


class TriageClassifier(ClassifierMixin, BaseEstimator):
    def __init__(
        self,
        C: float = 0.5,
        class_weight: str | None = None,
        calibration: str = "sigmoid",
        cv: int = 3,
        knn_k: int = 15,
        knn_weight: float = 0.3,
        temperature: float = 1.0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.knn_k = knn_k
        self.knn_weight = knn_weight
        self.temperature = temperature

    def _vectorizer(self, n: int) -> FeatureUnion:
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

    def fit(
        self, texts: Sequence[str], y: Sequence[str], embeddings: np.ndarray | None = None
    ) -> TriageClassifier:
        y = np.asarray([str(v) for v in y])
        self.classes_ = np.unique(y)
        self.vectorizer_ = self._vectorizer(len(texts))
        X = self.vectorizer_.fit_transform(texts)
        counts = np.unique(y, return_counts=True)[1]
        cv = int(max(2, min(self.cv, counts.min()))) if len(self.classes_) > 1 else 0
        if len(self.classes_) == 1:
            self.linear_ = None
        else:
            X_fit, y_fit = X, y
            if counts.min() < cv:
                # Cross-validated calibration needs every label in every fold: a label seen
                # once (say a category an agent just introduced by a correction) is repeated
                # rather than failing the whole training.
                rare = np.flatnonzero(np.isin(y, self.classes_[counts < cv]))
                X_fit = sparse.vstack([X, X[rare]], format="csr")
                y_fit = np.concatenate([y, y[rare]])
            # A fixed seed: the same data gives the same model (and the same gate verdict).
            svc = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=0)
            self.linear_ = CalibratedClassifierCV(svc, method=self.calibration, cv=cv)
            self.linear_.fit(X_fit, y_fit)
            coefs = [c.estimator.coef_ for c in self.linear_.calibrated_classifiers_]
            self.coef_ = np.mean(coefs, axis=0)
            if self.coef_.shape[0] == 1:  # binary: one row for the positive class
                self.coef_ = np.vstack([-self.coef_[0], self.coef_[0]])
            self.feature_names_ = self.vectorizer_.get_feature_names_out()
        if embeddings is not None and self.knn_weight > 0:
            self.train_embeddings_ = np.asarray(embeddings, dtype=np.float16)
            self.train_labels_ = np.searchsorted(self.classes_, y)
        else:
            self.train_embeddings_ = None
        return self

    def _linear_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.linear_ is None:
            return np.ones((len(texts), 1))
        return self.linear_.predict_proba(self.vectorizer_.transform(texts))

    def neighbours(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of each row's nearest training tickets."""
        sims = np.asarray(embeddings, dtype=np.float32) @ self.train_embeddings_.T.astype(
            np.float32
        )
        k = min(self.knn_k, sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, idx, axis=1)
        order = np.argsort(-top, axis=1)
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)

    def _knn_proba(self, embeddings: np.ndarray) -> np.ndarray:
        idx, sims = self.neighbours(embeddings)
        out = np.zeros((len(idx), len(self.classes_)))
        w = np.clip(sims, 0, None) ** 4 + 1e-9
        for r in range(len(idx)):
            np.add.at(out[r], self.train_labels_[idx[r]], w[r])
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        p = self._linear_proba(texts)
        if embeddings is not None and self.train_embeddings_ is not None:
            p = (1 - self.knn_weight) * p + self.knn_weight * self._knn_proba(embeddings)
        if self.temperature != 1.0:
            logp = np.log(np.clip(p, 1e-12, 1)) / self.temperature
            p = np.exp(logp - logp.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
        return p

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(texts, embeddings), axis=1)]

    def explain(self, text: str, label: str, top: int = 8) -> list[dict[str, float | str]]:
        """The n-grams of this text that pushed it towards ``label`` (weight × tf-idf value)."""
        if self.linear_ is None or label not in self.classes_:
            return []
        row = self.vectorizer_.transform([text])
        c = int(np.searchsorted(self.classes_, label))
        contrib = row.multiply(self.coef_[c]).tocsr()
        items = sorted(zip(contrib.indices, contrib.data, strict=True), key=lambda t: -t[1])
        out: list[dict[str, float | str]] = []
        seen: set[str] = set()
        for i, v in items:
            if v <= 0 or len(out) >= top:
                break
            name = str(self.feature_names_[i]).split("__", 1)[-1]
            key = name.strip()
            if not key or key in seen:
                continue
            seen.add(key)
            out.append({"term": key, "weight": round(float(v), 4)})
        return out
