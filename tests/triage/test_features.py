"""The shared TF-IDF featuriser: its fast path for a few texts equals scikit-learn's transform."""

from __future__ import annotations

import pickle

import numpy as np

from tests.triage.test_classifier import QUERIES, TEXTS
from triage.features import TextFeatures

ODD = [
    "",
    "   ",
    "printer printer printer jams jams",
    "VPN über Café — 東京 ünïcödé!!",
    "x",
    "a mailbox that is completely unknown zzzz qqqq",
]


def test_fast_path_equals_the_sklearn_transform() -> None:
    features = TextFeatures().fit(TEXTS)
    for text in [*QUERIES, *TEXTS[:5], *ODD]:
        fast = features.transform([text])
        slow = features.union.transform([text])
        assert fast.shape == slow.shape
        assert np.allclose(fast.toarray(), slow.toarray(), atol=1e-12), text


def test_many_texts_go_through_sklearn_and_agree() -> None:
    features = TextFeatures().fit(TEXTS)
    batch = features.transform(TEXTS)  # more than a few: sklearn's own transform
    for i in (0, 7, 23):
        assert np.allclose(batch[i].toarray(), features.transform([TEXTS[i]]).toarray())


def test_survives_pickling() -> None:
    features = pickle.loads(pickle.dumps(TextFeatures().fit(TEXTS)))
    assert np.allclose(
        features.transform(QUERIES[:1]).toarray(), features.union.transform(QUERIES[:1]).toarray()
    )
    assert features.name(int(features.transform(["printer"]).indices[0]))
