"""The triage text classifier: TF-IDF word and character n-grams into a linear SVM, blended
log-linearly with similarity-weighted votes of the nearest training tickets in embedding space,
calibrated on out-of-fold predictions.

A scikit-learn estimator: ``fit`` returns self, learned attributes end in ``_``, nothing happens
in ``__init__``.  Inputs are texts plus, optionally, their sentence embeddings (the encoder stays
in ``models/``; the caller passes vectors).  Several models (one per triage target) can share
one fitted :class:`~triage.features.TextFeatures` and one pool of training embeddings, so that a
request is featurised and its neighbours searched once for all targets (``X=`` and ``sims=``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from core.text import STOP_WORDS
from triage.features import TextFeatures

# Additive log-probability of a class the nearest tickets do not vote for at all.
KNN_FLOOR = 1e-3


class TriageClassifier(ClassifierMixin, BaseEstimator):
    def __init__(
        self,
        C: float = 0.5,
        class_weight: str | None = "balanced",
        calibration: str = "temperature",
        cv: int = 3,
        knn_k: int = 20,
        knn_weight: float = 0.3,
        temperature: float = 1.0,
        folds: int | None = None,
        prior_correction: bool = True,
        knn_kernel: str = "exp",
        embedding_C: float | None = 10.0,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.cv = cv
        self.knn_k = knn_k
        self.knn_weight = knn_weight
        self.temperature = temperature
        self.folds = folds
        self.prior_correction = prior_correction
        self.knn_kernel = knn_kernel
        self.embedding_C = embedding_C

    def fit(
        self,
        texts: Sequence[str],
        y: Sequence[str],
        embeddings: np.ndarray | None = None,
        features: TextFeatures | None = None,
        pool: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> TriageClassifier:
        """``features``: an already fitted featuriser to share (else one is fitted on
        ``texts``); ``pool``: ``(matrix, rows)``, a float32 embedding matrix shared with other
        models and the row of each training example in it (else ``embeddings`` is the pool)."""
        texts = list(texts)
        y = np.asarray([str(v) for v in y])
        self.classes_ = np.unique(y)
        self.vectorizer_ = features if features is not None else TextFeatures().fit(texts)
        self.feature_names_ = self.vectorizer_.names
        X = self.vectorizer_.transform(texts)
        labels = np.searchsorted(self.classes_, y)
        self.temperature_ = self.temperature
        self.knn_weight_ = self.knn_weight if embeddings is not None else 0.0
        self.bias_ = np.zeros(len(self.classes_))
        self.embedding_weight_ = 0.0
        self.embedding_model_ = None
        self.train_embeddings_ = None
        self.oof_proba_: np.ndarray | None = None
        self.oof_correct_: np.ndarray | None = None
        if embeddings is not None and self.knn_weight > 0:
            if pool is None:
                matrix, rows = np.asarray(embeddings, dtype=np.float32), np.arange(len(y))
            else:
                matrix, rows = pool
            self.train_embeddings_ = matrix
            self.train_labels_ = np.full(len(matrix), -1, dtype=np.int32)
            self.train_labels_[rows] = labels
        if len(self.classes_) == 1:
            self.linear_ = None
            return self
        if self.calibration == "temperature":
            self._fit_blend(X, y, embeddings)
        else:
            self._fit_cv_calibrated(X, y)
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

    def _n_folds(self, n: int) -> int:
        if self.folds is not None:
            return self.folds
        return 10 if n < 2000 else (5 if n < 10000 else 3)

    def _folds(self, y: np.ndarray, n_folds: int) -> np.ndarray:
        """A fold number per row, stratified by label, deterministic."""
        rng = np.random.default_rng(0)
        fold = np.empty(len(y), dtype=int)
        start = 0
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            fold[idx] = (start + np.arange(len(idx))) % n_folds
            start += len(idx)  # spreads the small classes' rows over different folds
        return fold

    def _embedding_lr(self, emb: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(C=self.embedding_C, max_iter=300).fit(emb, y)

    def _fit_blend(self, X: sparse.spmatrix, y: np.ndarray, embeddings: np.ndarray | None) -> None:
        """Out-of-fold calibration.  Every training row is scored by an SVM (and neighbour
        votes, and a logistic regression on the embeddings if configured) that did not see
        it; on those predictions the blend

            log p(c) = a · svm_score(c) + w · log p_knn(c) [+ v · log p_emb(c)] + b_c + const

        is fitted by log-loss: a (= 1 / temperature), the weights w (and v) and a per-class
        offset b that corrects the class-balanced SVM towards the real class frequencies
        (L2-penalised, so a rare class keeps b ≈ 0).  Then the models are refit on every row.

        Learned on the way: ``oof_proba_`` (n_samples × n_classes, float32), each row's
        calibrated probabilities from the fold models that did not see it (NaN where no fold
        model scored it; a class its fold model never saw gets 0), and ``oof_correct_``, whether
        their top class is the row's label; both None below 40 rows (no folds)."""
        n = len(y)
        labels = np.searchsorted(self.classes_, y)
        emb = np.asarray(embeddings, dtype=np.float32) if embeddings is not None else None
        use_knn = self.train_embeddings_ is not None and emb is not None
        use_lr = emb is not None and self.embedding_C is not None
        n_folds = self._n_folds(n)
        if n >= 40 and n_folds >= 2:
            fold = self._folds(y, n_folds)
            k = len(self.classes_)
            scores = np.zeros((n, k))
            present = np.zeros((n, k), dtype=bool)
            log_knn = np.zeros((n, k))
            log_lr = np.zeros((n, k))
            for f in range(n_folds):
                test, train = fold == f, fold != f
                if not test.any() or len(np.unique(y[train])) < 2:
                    continue
                svc = self._svc().fit(X[train], y[train])
                cols = np.searchsorted(self.classes_, svc.classes_)
                scores[np.ix_(test, cols)] = self._scores(svc, X[test])
                present[np.ix_(test, cols)] = True
                if use_knn:
                    log_knn[test] = np.log(
                        self._knn_from(emb[train], labels[train], emb[test]) + KNN_FLOOR
                    )
                if use_lr:
                    lr = self._embedding_lr(emb[train], y[train])
                    log_lr[np.ix_(test, cols)] = _log_proba(lr, emb[test])
            # rows whose class no fold model knew (a label seen once) say nothing about
            # calibration
            usable = present[np.arange(n), labels]
            if usable.sum() >= 10:
                comps = [scores[usable]]
                if use_knn:
                    comps.append(log_knn[usable])
                if use_lr:
                    comps.append(log_lr[usable])
                coef, b = _fit_log_linear(
                    comps, present[usable], labels[usable], k, fit_bias=self.prior_correction
                )
                self.temperature_ = 1.0 / coef[0]
                self.knn_weight_ = coef[1] if use_knn else 0.0
                self.embedding_weight_ = coef[-1] if use_lr else 0.0
                self.bias_ = b
            # The calibrated out-of-fold probabilities, with the blend just fitted: what a
            # model that did not see a row says about it (abstention thresholds rest on these).
            z = scores / self.temperature_ + self.bias_
            if use_knn:
                z = z + self.knn_weight_ * log_knn
            if use_lr:
                z = z + self.embedding_weight_ * log_lr
            scored = present.any(axis=1)
            proba = np.full((n, k), np.nan, dtype=np.float32)
            proba[scored] = _softmax(np.where(present, z, -np.inf)[scored])
            self.oof_proba_ = proba
            self.oof_correct_ = scored & (np.argmax(np.nan_to_num(proba, nan=-1.0), 1) == labels)
        if use_lr and self.embedding_weight_ > 0:
            self.embedding_model_ = self._embedding_lr(emb, y)
        self.linear_ = self._svc().fit(X, y)
        self.coef_ = self.linear_.coef_
        if self.coef_.shape[0] == 1:
            self.coef_ = np.vstack([-self.coef_[0], self.coef_[0]])

    def _scores(self, svc: LinearSVC, X: sparse.spmatrix) -> np.ndarray:
        # LinearSVC.decision_function without its per-call input validation (which costs
        # more than the product itself for one request)
        s = np.asarray(X @ svc.coef_.T) + svc.intercept_
        if s.shape[1] == 1:  # binary: one column, for the second class
            return np.column_stack([-s[:, 0] / 2, s[:, 0] / 2])
        return s

    # -- prediction ----------------------------------------------------------------------
    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self.vectorizer_.transform(texts)

    def similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Cosine similarities of each row to the pool of training embeddings (shared by the
        models fitted on one pool: compute once, pass as ``sims=``)."""
        return np.asarray(embeddings, dtype=np.float32) @ self._pool().T

    def _pool(self) -> np.ndarray:
        pool = self.train_embeddings_
        if pool.dtype != np.float32:  # models saved by earlier versions kept float16
            pool = pool.astype(np.float32)
        return pool

    def neighbours(
        self, embeddings: np.ndarray | None = None, sims: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of each row's nearest (labelled) training
        tickets, most similar first."""
        if sims is None:
            sims = self.similarities(embeddings)
        known = self.train_labels_ >= 0
        if not known.all():
            sims = np.where(known, sims, -np.inf)
        k = min(self.knn_k, int(known.sum()))
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(sims, idx, axis=1)
        order = np.argsort(-top, axis=1)
        return np.take_along_axis(idx, order, axis=1), np.take_along_axis(top, order, axis=1)

    def _votes(self, labels: np.ndarray, top: np.ndarray) -> np.ndarray:
        """Similarity-weighted votes of the neighbours ``labels`` with similarities ``top``."""
        out = np.zeros((len(labels), len(self.classes_)))
        if getattr(self, "knn_kernel", "power") == "exp":
            w = np.exp((top - top.max(axis=1, keepdims=True)) / 0.05)
        else:
            w = np.clip(top, 0, None) ** 4 + 1e-9
        for r in range(len(labels)):
            np.add.at(out[r], labels[r], w[r])
        return out / out.sum(axis=1, keepdims=True)

    def _knn_from(self, train: np.ndarray, labels: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Similarity-weighted votes of the nearest ``train`` rows for each ``query`` row."""
        sims = query @ train.T
        k = min(self.knn_k, sims.shape[1])
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        return self._votes(labels[idx], np.take_along_axis(sims, idx, axis=1))

    def _knn_proba(
        self, embeddings: np.ndarray | None, neighbours: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        idx, top = neighbours if neighbours is not None else self.neighbours(embeddings)
        return self._votes(self.train_labels_[idx], top)

    def predict_proba(
        self,
        texts: Sequence[str],
        embeddings: np.ndarray | None = None,
        X: sparse.spmatrix | None = None,
        neighbours: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """``X``: the texts' features if already computed; ``neighbours``: the result of
        :meth:`neighbours` for ``embeddings`` if already computed."""
        if self.linear_ is None:
            return np.ones((len(texts), 1))
        if X is None:
            X = self.transform(texts)
        blend = (
            (embeddings is not None or neighbours is not None)
            and self.train_embeddings_ is not None
            and self.knn_weight_
        )
        if not isinstance(self.linear_, LinearSVC):
            p = self.linear_.predict_proba(X)
            if blend:
                p = (1 - self.knn_weight_) * p + self.knn_weight_ * self._knn_proba(
                    embeddings, neighbours
                )
            return p
        z = self._scores(self.linear_, X) / self.temperature_ + getattr(self, "bias_", 0.0)
        if blend:
            z = z + self.knn_weight_ * np.log(self._knn_proba(embeddings, neighbours) + KNN_FLOOR)
        if embeddings is not None and getattr(self, "embedding_model_", None) is not None:
            z = z + self.embedding_weight_ * _log_proba(self.embedding_model_, embeddings)
        return _softmax(z)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(texts, embeddings), axis=1)]

    def explain(
        self, text: str, label: str, top: int = 8, X: sparse.spmatrix | None = None
    ) -> list[dict[str, float | str]]:
        """The words of this text that pushed it towards ``label``, as a person reads them:
        each word's weight sums its word n-grams' and character n-grams' contributions
        (weight × tf-idf value; an n-gram's share is split between the words it covers), and
        function words ("on", "the", "about") are never evidence.  ``X``: the text's features
        if already computed."""
        if self.linear_ is None or label not in self.classes_:
            return []
        row = sparse.csr_matrix(X if X is not None else self.transform([text]))
        c = int(np.searchsorted(self.classes_, label))
        contrib = row.data[row.indptr[0] : row.indptr[1]] * self.coef_[c, row.indices]
        words = _content_words(text)
        if not words:
            return []
        grams = _char_index(words)
        score: dict[str, float] = {}
        for i, v in zip(row.indices, contrib, strict=True):
            name = str(self.feature_names_[i])
            kind, _, gram = name.partition("__")
            if kind == "word":
                owners = [w for w in gram.split() if w in words]
            else:
                owners = grams.get(gram, [])
            for w in owners:
                score[w] = score.get(w, 0.0) + float(v) / len(owners)
        ranked = sorted((w for w in score if score[w] > 0), key=lambda w: -score[w])[:top]
        return [{"term": words[w], "weight": round(score[w], 4)} for w in ranked]


def _content_words(text: str) -> dict[str, str]:
    """The text's words that carry meaning, lower-cased, each mapped to itself as written
    (at most the first 2,000 distinct: evidence is about the gist, not a 100 KB dump)."""
    out: dict[str, str] = {}
    for raw in text.split():
        w = raw.strip(_PUNCT)
        key = w.lower()
        if len(key) > 2 and not key.isdigit() and key not in STOP_WORDS and key not in out:
            out[key] = w
            if len(out) >= 2000:
                break
    return out


def _char_index(words: dict[str, str]) -> dict[str, list[str]]:
    """Character 2-5-grams of each word padded with spaces (as the ``char_wb`` analyser sees
    it) → the words they occur in."""
    index: dict[str, list[str]] = {}
    for w in words:
        padded = f" {w} "
        for n in range(2, 6):
            for k in range(len(padded) - n + 1):
                owners = index.setdefault(padded[k : k + n], [])
                if not owners or owners[-1] != w:
                    owners.append(w)
    return index


_PUNCT = "\"'`.,;:!?()[]{}<>«»“”‘’*#|/\\-_=+~^%&@$"


def _fit_log_linear(
    components: list[np.ndarray],
    present: np.ndarray,
    target: np.ndarray,
    k: int,
    fit_bias: bool,
    bias_l2: float = 1.0,
) -> tuple[list[float], np.ndarray]:
    """Minimise the log-loss of softmax(Σ_i c_i · components[i] + b) over c_0 > 0 (the SVM
    scores' inverse temperature), c_i ≥ 0 (the other components' weights) and, if
    ``fit_bias``, b with an L2 penalty: a convex problem.  Classes not ``present`` in the model
    that scored a row get no mass in that row."""
    n = len(target)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), target] = 1.0
    mask = np.where(present, 0.0, -np.inf)
    m = len(components)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        c, b = theta[:m], theta[m:]
        z = sum(ci * comp for ci, comp in zip(c, components, strict=True)) + b + mask
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        d = np.where(present, np.exp(logp) - onehot, 0.0)
        nll = -np.sum(logp[np.arange(n), target])
        grad = np.concatenate(
            [[np.sum(d * comp) for comp in components], d.sum(axis=0) + bias_l2 * b]
        )
        return float(nll + 0.5 * bias_l2 * np.dot(b, b)), grad

    theta0 = np.concatenate([[1.0], [0.3] * (m - 1), np.zeros(k)])
    bounds = [(1e-3, 100.0)] + [(0.0, 5.0)] * (m - 1) + [(None, None) if fit_bias else (0, 0)] * k
    res = optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return [float(v) for v in res.x[:m]], np.asarray(res.x[m:], dtype=float)


def _log_proba(lr: LogisticRegression, X: np.ndarray) -> np.ndarray:
    """LogisticRegression.predict_log_proba (multinomial) without the input validation."""
    z = np.asarray(X, dtype=np.float64) @ lr.coef_.T + lr.intercept_
    if z.shape[1] == 1:  # binary: one column, for the second class
        z = np.column_stack([np.zeros(len(z)), z[:, 0]])
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
