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
        class_weight: str | None = "balanced",
        calibration: str = "temperature",
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
        self.temperature_ = self.temperature
        self.knn_weight_ = self.knn_weight if embeddings is not None else 0.0
        self.train_embeddings_ = None
        if embeddings is not None and self.knn_weight > 0:
            self.train_embeddings_ = np.asarray(embeddings, dtype=np.float16)
            self.train_labels_ = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 1:
            self.linear_ = None
            return self
        if self.calibration == "temperature":
            self._fit_temperature(X, y, embeddings)
        else:
            self._fit_cv_calibrated(X, y)
        self.feature_names_ = self.vectorizer_.get_feature_names_out()
        return self

    def _svc(self) -> LinearSVC:
        # A fixed seed: the same data gives the same model (and the same gate verdict).
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=0)

    def _fit_cv_calibrated(self, X: sparse.spmatrix, y: np.ndarray) -> None:
        counts = np.unique(y, return_counts=True)[1]
        cv = int(max(2, min(self.cv, counts.min())))
        X_fit, y_fit = X, y
        if counts.min() < cv:
            # Cross-validated calibration needs every label in every fold: a label seen
            # once (say a category an agent just introduced by a correction) is repeated
            # rather than failing the whole training.
            rare = np.flatnonzero(np.isin(y, self.classes_[counts < cv]))
            X_fit = sparse.vstack([X, X[rare]], format="csr")
            y_fit = np.concatenate([y, y[rare]])
        self.linear_ = CalibratedClassifierCV(self._svc(), method=self.calibration, cv=cv)
        self.linear_.fit(X_fit, y_fit)
        self.coef_ = np.mean(
            [c.estimator.coef_ for c in self.linear_.calibrated_classifiers_], axis=0
        )
        if self.coef_.shape[0] == 1:  # binary: one row for the positive class
            self.coef_ = np.vstack([-self.coef_[0], self.coef_[0]])

    def _fit_temperature(
        self, X: sparse.spmatrix, y: np.ndarray, embeddings: np.ndarray | None
    ) -> None:
        """Fit the SVM on 85 %, choose the softmax temperature (and the weight of the
        neighbour votes) that minimise log-loss on the other 15 %, then refit on everything."""
        n = len(y)
        rng = np.random.default_rng(0)
        held = rng.random(n) < 0.15
        seen = np.isin(y[held], np.unique(y[~held]))
        if n >= 40 and seen.sum() >= 10 and len(np.unique(y[~held])) > 1:
            svc = self._svc().fit(X[~held], y[~held])
            # scores over every class: a class absent from the 85 % part gets no mass
            part = self._scores(svc, X[held][seen])
            scores = np.full((len(part), len(self.classes_)), -1e9)
            scores[:, np.searchsorted(self.classes_, svc.classes_)] = part
            target = np.searchsorted(self.classes_, y[held][seen])
            knn = None
            if self.train_embeddings_ is not None and embeddings is not None:
                emb = np.asarray(embeddings, dtype=np.float32)
                knn = self._knn_from(
                    emb[~held], np.searchsorted(self.classes_, y[~held]), emb[held][seen]
                )
            # log-linear blend, softmax(scores / T + w · log p_knn): T and w by held-out log-loss
            weights = [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0] if knn is not None else [0.0]
            log_knn = np.log(knn + 1e-3) if knn is not None else 0.0
            best = (np.inf, 1.0, 0.0)
            rows = np.arange(len(target))
            for t in np.geomspace(0.01, 3.0, 48):
                for w in weights:
                    p = _softmax(scores / t + w * log_knn)
                    nll = -np.mean(np.log(np.clip(p[rows, target], 1e-12, 1)))
                    if nll < best[0]:
                        best = (nll, float(t), w)
            _, self.temperature_, self.knn_weight_ = best
        else:  # too little data to hold any out: the configured temperature and weight
            self.temperature_, self.knn_weight_ = self.temperature, self.knn_weight_
        self.linear_ = self._svc().fit(X, y)
        self.coef_ = self.linear_.coef_
        if self.coef_.shape[0] == 1:
            self.coef_ = np.vstack([-self.coef_[0], self.coef_[0]])

    def _scores(self, svc: LinearSVC, X: sparse.spmatrix) -> np.ndarray:
        s = svc.decision_function(X)
        return np.column_stack([-s / 2, s / 2]) if s.ndim == 1 else s

    def _linear_proba(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        if self.linear_ is None:
            return np.ones((len(texts), 1))
        X = self.vectorizer_.transform(texts)
        if not isinstance(self.linear_, LinearSVC):
            return self.linear_.predict_proba(X)
        z = self._scores(self.linear_, X) / self.temperature_
        if embeddings is not None and self.train_embeddings_ is not None and self.knn_weight_:
            z = z + self.knn_weight_ * np.log(self._knn_proba(embeddings) + 1e-3)
        return _softmax(z)

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

    def _knn_from(self, train: np.ndarray, labels: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Similarity-weighted votes of the nearest ``train`` rows for each ``query`` row."""
        sims = query @ train.T
        k = min(self.knn_k, sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, idx, axis=1)
        out = np.zeros((len(query), len(self.classes_)))
        w = np.clip(top, 0, None) ** 4 + 1e-9
        for r in range(len(idx)):
            np.add.at(out[r], labels[idx[r]], w[r])
        return out / out.sum(axis=1, keepdims=True)

    def _knn_proba(self, embeddings: np.ndarray) -> np.ndarray:
        return self._knn_from(
            self.train_embeddings_.astype(np.float32),
            self.train_labels_,
            np.asarray(embeddings, dtype=np.float32),
        )

    def predict_proba(
        self, texts: Sequence[str], embeddings: np.ndarray | None = None
    ) -> np.ndarray:
        if isinstance(self.linear_, LinearSVC):
            return self._linear_proba(texts, embeddings)
        p = self._linear_proba(texts)
        if embeddings is not None and self.train_embeddings_ is not None and self.knn_weight_:
            p = (1 - self.knn_weight_) * p + self.knn_weight_ * self._knn_proba(embeddings)
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


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
