"""Abstention thresholds chosen on out-of-fold confidences: what a desk sees when its history is
small, when a target cannot be learned, and how right the answers given are."""

from __future__ import annotations

import numpy as np
import pytest

from models.encoder import HashingEncoder
from triage.classifier import TriageClassifier
from triage.training import Example, fit_target, score, train_bundle

CLASSES = {
    "Printing": ["printer", "toner", "paper jam", "print queue", "scanner"],
    "VPN": ["vpn", "globalprotect", "tunnel", "gateway", "remote access"],
    "Email": ["outlook", "mailbox", "email", "calendar invite", "shared inbox"],
}
FILLER = "please help today urgent again since monday my laptop colleague office floor".split()


def history(n: int, seed: int, clear: float = 0.6, noise: float = 0.04) -> tuple[list, list]:
    """Requests of which a share ``clear`` name their topic (labelled right but for ``noise``)
    and the rest are vague ("it does not work") with a label at random: a model can be sure of
    the first kind only."""
    rng = np.random.default_rng(seed)
    names = sorted(CLASSES)
    texts, labels = [], []
    for _ in range(n):
        label = names[rng.integers(len(names))]
        words = list(rng.choice(FILLER, 4))
        if rng.uniform() < clear:
            words += [str(rng.choice(CLASSES[label]))] * 2
            if rng.uniform() < noise:
                label = names[rng.integers(len(names))]
        else:
            words += ["it", "does", "not", "work"]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def test_the_threshold_rests_on_every_out_of_fold_row() -> None:
    texts, labels = history(150, seed=0)
    model, abstention = fit_target(texts, labels, None, 0.9, 0.3)
    assert model.oof_proba_ is not None
    assert abstention.method == "out-of-fold"
    assert abstention.rows == 150  # not the 15 % a validation part would give
    assert 0 < abstention.accepted <= 150
    assert abstention.coverage == pytest.approx(abstention.accepted / 150)
    assert abstention.threshold <= 1.0
    assert abstention.precision >= abstention.precision_lower_bound >= 0.9


def test_answers_given_are_right_at_about_the_target_precision() -> None:
    texts, labels = history(300, seed=1)
    model, abstention = fit_target(texts, labels, None, 0.9, 0.3)
    new_texts, new_labels = history(3000, seed=2)
    result = score(model, new_texts, new_labels, None, abstention.threshold)
    # 60 % of requests can be answered at 96 % precision, the rest at a third
    assert result["accuracy"] < 0.8
    assert result["accuracy_when_confident"] >= 0.88
    assert result["coverage"] >= 0.4
    assert result["coverage"] == pytest.approx(abstention.coverage, abs=0.1)


def test_a_target_whose_confidence_never_reaches_the_precision_always_abstains() -> None:
    texts, _ = history(200, seed=3)
    rng = np.random.default_rng(4)
    coin = [str(rng.choice(["low", "high"])) for _ in texts]  # not in the text at all
    model, abstention = fit_target(texts, coin, None, 0.9, 0.3)
    assert abstention.threshold > 1.0
    assert abstention.rows == 200
    assert "no confidence reaches 0.90 precision on 200 rows" in abstention.reason
    assert score(model, texts[:50], coin[:50], None, abstention.threshold)["coverage"] == 0.0


def test_too_few_rows_for_out_of_fold_scores_abstain_and_say_so() -> None:
    texts, labels = history(30, seed=5, clear=1.0, noise=0.0)
    _, abstention = fit_target(texts, labels, None, 0.9, 0.3)
    assert abstention.threshold > 1.0
    assert abstention.rows == 0
    assert "30 training rows" in abstention.reason


def test_out_of_fold_scores_come_from_models_that_did_not_see_the_row() -> None:
    texts, labels = history(200, seed=6)
    encoder = HashingEncoder()
    model = TriageClassifier().fit(texts, labels, encoder.encode(texts))
    assert model.oof_proba_.shape == (200, 3)
    assert np.allclose(model.oof_proba_.sum(axis=1), 1.0, atol=1e-4)
    pred = model.classes_[model.oof_proba_.argmax(axis=1)]
    assert (model.oof_correct_ == (pred == np.asarray(labels))).all()
    # the vague requests carry random labels: a model that saw them fits some of those labels,
    # one that did not guesses at a third
    vague = np.asarray(["work" in t.split() for t in texts])
    in_sample = model.predict(texts, encoder.encode(texts)) == np.asarray(labels)
    assert model.oof_correct_[vague].mean() < 0.5
    assert model.oof_correct_[vague].mean() < in_sample[vague].mean()


def test_the_bundle_keeps_what_each_threshold_rests_on() -> None:
    texts, labels = history(200, seed=7)
    rng = np.random.default_rng(8)
    examples = [
        Example(t, {"type": y, "urgency": str(rng.choice(["low", "high"]))}, f"ticket:{i}")
        for i, (t, y) in enumerate(zip(texts, labels, strict=True))
    ]
    bundle, _ = train_bundle(examples, None, 0.9, 0.3)
    trained_on = sum(e.part() == "train" for e in examples)
    for target in ("type", "urgency"):
        a = bundle.abstention[target]
        assert a["rows"] == trained_on
        assert a["threshold"] == pytest.approx(bundle.thresholds[target], abs=1e-6)
        assert a["method"] == "out-of-fold"
    assert bundle.abstention["type"]["coverage"] > 0.3
    # a coin flip: never confident enough, and the listing's threshold says so too
    assert bundle.abstention["urgency"]["reason"]
    assert bundle.abstention["urgency"]["threshold"] > 1.0
