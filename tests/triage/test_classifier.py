"""The triage text classifier as an estimator: fit, probabilities, explanations."""

from __future__ import annotations

import re

import numpy as np
import pytest

from models.encoder import HashingEncoder
from triage.classifier import TriageClassifier
from triage.features import TextFeatures

PRINTING = [
    "printer jams on every page in tray 2",
    "printer on floor 3 says paper jam",
    "toner low on the reception printer",
    "prints come out faded from the printer",
    "printer offline after the weekend",
    "cannot print to the follow me printer",
    "printer makes a grinding noise",
    "badge does not work on the printer",
]
VPN = [
    "vpn disconnects every hour from home",
    "globalprotect vpn cannot connect to the gateway",
    "vpn certificate error on my laptop",
    "vpn stuck on connecting at the hotel",
    "vpn mfa prompt never arrives",
    "vpn really slow when working from home",
    "vpn drops the tunnel after the update",
    "lost phone so cannot approve the vpn login",
]
EMAIL = [
    "mailbox full cannot send email",
    "emails to a supplier are bouncing",
    "outlook keeps asking for my password",
    "shared mailbox missing in outlook",
    "calendar invites go only to the assistant in outlook",
    "email stuck in the outbox",
    "phishing email about a parcel delivery",
    "outlook search does not find old email",
]
TEXTS = PRINTING + VPN + EMAIL
LABELS = ["Printing"] * 8 + ["VPN"] * 8 + ["Email"] * 8
QUERIES = ["the printer jams again", "vpn will not connect", "my mailbox is full in outlook"]


@pytest.fixture(scope="module")
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="module")
def fitted() -> TriageClassifier:
    return TriageClassifier().fit(TEXTS, LABELS)


def test_init_only_stores_parameters() -> None:
    model = TriageClassifier(C=2.0, knn_weight=0.0)
    assert model.get_params()["C"] == 2.0
    assert not hasattr(model, "classes_")


def test_fit_returns_self_with_sorted_classes() -> None:
    model = TriageClassifier()
    assert model.fit(TEXTS, LABELS) is model
    assert list(model.classes_) == ["Email", "Printing", "VPN"]


def test_predict_proba_rows_sum_to_one(fitted: TriageClassifier) -> None:
    proba = fitted.predict_proba(QUERIES)
    assert proba.shape == (3, 3)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()


def test_predicts_the_obvious_labels(fitted: TriageClassifier) -> None:
    assert list(fitted.predict(QUERIES)) == ["Printing", "VPN", "Email"]


def test_explain_gives_positive_terms_from_the_text(fitted: TriageClassifier) -> None:
    text = "the printer jams again"
    terms = fitted.explain(text, "Printing")
    assert terms, "no explanation"
    assert all(t["weight"] > 0 for t in terms)
    for t in terms:
        assert t["term"] in text, t
    assert any(re.fullmatch(r"printer|jams", t["term"]) for t in terms)
    weights = [t["weight"] for t in terms]
    assert weights == sorted(weights, reverse=True)


def test_explain_of_unknown_label_is_empty(fitted: TriageClassifier) -> None:
    assert fitted.explain("the printer jams again", "Facilities") == []


def test_with_embeddings_blends_neighbour_votes(encoder: HashingEncoder) -> None:
    emb = encoder.encode(TEXTS)
    plain = TriageClassifier(knn_weight=0.3).fit(TEXTS, LABELS)
    blended = TriageClassifier(knn_weight=0.3).fit(TEXTS, LABELS, emb)
    q = encoder.encode(QUERIES)
    p = blended.predict_proba(QUERIES, q)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert list(blended.predict(QUERIES, q)) == ["Printing", "VPN", "Email"]
    assert not np.allclose(p, plain.predict_proba(QUERIES))  # the votes count
    idx, sims = blended.neighbours(encoder.encode([PRINTING[0]]))
    assert idx[0][0] == 0 and sims[0][0] == pytest.approx(1.0, abs=1e-2)
    assert list(sims[0]) == sorted(sims[0], reverse=True)
    # without embeddings at prediction time it falls back to the text model alone
    assert np.allclose(blended.predict_proba(QUERIES), plain.predict_proba(QUERIES))


def test_without_knn_weight_embeddings_are_not_kept(encoder: HashingEncoder) -> None:
    model = TriageClassifier(knn_weight=0.0).fit(TEXTS, LABELS, encoder.encode(TEXTS))
    assert model.train_embeddings_ is None


def test_binary_case() -> None:
    texts, labels = PRINTING + VPN, ["Printing"] * 8 + ["VPN"] * 8
    model = TriageClassifier().fit(texts, labels)
    proba = model.predict_proba(["printer jam", "vpn connect"])
    assert proba.shape == (2, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.predict(["printer jam", "vpn connect"])) == ["Printing", "VPN"]
    # each class is explained by its own words, not the other class's
    assert "printer" in {t["term"] for t in model.explain("printer and vpn", "Printing")}
    assert "vpn" in {t["term"] for t in model.explain("printer and vpn", "VPN")}
    assert "vpn" not in {t["term"] for t in model.explain("printer and vpn", "Printing")}


def test_a_label_seen_once_does_not_break_training() -> None:
    # e.g. an agent's correction introduced a new category
    texts = [*TEXTS, "the coffee machine on floor 2 leaks water"]
    model = TriageClassifier().fit(texts, [*LABELS, "Facilities"])
    assert "Facilities" in model.classes_
    assert list(model.predict(QUERIES)) == ["Printing", "VPN", "Email"]


def test_same_data_gives_the_same_model() -> None:
    a = TriageClassifier().fit(TEXTS, LABELS).predict_proba(QUERIES)
    b = TriageClassifier().fit(TEXTS, LABELS).predict_proba(QUERIES)
    assert np.array_equal(a, b)


def test_temperature_softens_confidence(fitted: TriageClassifier) -> None:
    soft = TriageClassifier(temperature=3.0).fit(TEXTS, LABELS)
    assert soft.predict_proba(QUERIES).max(axis=1).mean() < (
        fitted.predict_proba(QUERIES).max(axis=1).mean()
    )
    assert np.allclose(soft.predict_proba(QUERIES).sum(axis=1), 1.0)


def test_shared_features_and_pool_give_the_same_answers(encoder: HashingEncoder) -> None:
    # two targets: one labelled on every row, one on the printing and VPN rows only
    emb = encoder.encode(TEXTS)
    features = TextFeatures().fit(TEXTS)
    some = list(range(16))
    a = TriageClassifier().fit(TEXTS, LABELS, emb, features=features, pool=(emb, np.arange(24)))
    b = TriageClassifier().fit(
        [TEXTS[i] for i in some],
        [LABELS[i] for i in some],
        emb[some],
        features=features,
        pool=(emb, np.asarray(some)),
    )
    q = encoder.encode(QUERIES)
    sims = a.similarities(q)
    assert np.array_equal(sims, b.similarities(q))  # one search serves both
    idx, _ = b.neighbours(sims=sims)
    assert set(idx.ravel()) <= set(some)  # only rows labelled for that target vote
    X = features.transform(QUERIES)
    for model in (a, b):
        assert np.allclose(
            model.predict_proba(QUERIES, q, X=X, neighbours=model.neighbours(sims=sims)),
            model.predict_proba(QUERIES, q),
        )
        assert model.explain(QUERIES[0], "Printing", X=X[0]) == model.explain(
            QUERIES[0], "Printing"
        )
    assert list(b.predict(QUERIES[:2], q[:2])) == ["Printing", "VPN"]


def test_without_signal_the_confidence_is_the_class_frequency(encoder: HashingEncoder) -> None:
    # labels independent of the texts, 70 % / 30 %: calibrated out of fold and corrected
    # towards the class frequencies (the SVM is class-balanced), the model says about 0.7
    rng = np.random.default_rng(0)
    words = "printer vpn mailbox laptop password screen badge wifi phone teams".split()
    texts = [" ".join(rng.choice(words, 6)) for _ in range(300)]
    labels = np.where(rng.random(300) < 0.7, "low", "high")
    model = TriageClassifier().fit(texts, labels, encoder.encode(texts))
    new = [" ".join(rng.choice(words, 6)) for _ in range(200)]
    proba = model.predict_proba(new, encoder.encode(new))
    conf = proba.max(axis=1)
    assert abs(conf.mean() - 0.7) < 0.06
    assert (model.classes_[proba.argmax(axis=1)] == "low").mean() > 0.9
