"""Triage on anything a client sends stays linear: the rules, the text features and a whole
prediction of a 100 KB adversarial description (issue #11 failure 5)."""

from __future__ import annotations

from functools import cache

from hypothesis import example, given

from tests.adversarial import (
    MAX_CHARS,
    adversarial_text,
    crafted,
    crafted_repeated,
    hard_stop,
    linear,
)
from tests.triage.conftest import TriageEnv
from triage.features import TextFeatures
from triage.rules import apply_rules
from triage.service import request_text

CORPUS = [
    "printer on the whole floor is down",
    "change the warehouse picking process",
    "vpn drops every hour since the update",
    "how do I reset my password",
    "thanks for the quick fix",
]
RULE_WORDS = (
    "whole entire floor nobody on the change the process is down how do about 15 people "
    "in 20 minutes before the 3 pm cut-off customers cannot pay works on another pc for now "
    "please change our wants the rules changed roll out over the weekend can't at all "
    "all of the every our ( we're 14 ) not urgent"
).split()


@cache
def features() -> TextFeatures:
    return TextFeatures().fit(CORPUS)


@linear
@example(crafted())
@example(crafted_repeated())
@example(("whole " * 3 + "x ") * (MAX_CHARS // 20))
@example("change " * (MAX_CHARS // 7))
@example("nobody on the " + "a-" * (MAX_CHARS // 2))
@example("please " + "a " * (MAX_CHARS // 2))
@example("can't " + "x" * (MAX_CHARS - 8) + " at all")
@example(" ".join(RULE_WORDS) * (MAX_CHARS // 400))
@given(adversarial_text)
def test_rules_and_features_stay_linear_on_adversarial_text(text: str) -> None:
    request = {"title": text[:500], "description": text, "users_affected": 12}
    with hard_stop():
        hits = apply_rules(request)
        X = features().transform([request_text(request["title"], text)])
    assert {h.target for h in hits} <= {"impact", "urgency", "type"}
    assert X.shape == (1, features().n_features)


ADVERSARIAL_DESCRIPTIONS = {
    "crafted": crafted(),
    "crafted-repeated": crafted_repeated(),
    "sign-offs": ("Thanks,\n" * (MAX_CHARS // 8))[:MAX_CHARS],
    "rule-words": (" ".join(RULE_WORDS) * (MAX_CHARS // 60))[:MAX_CHARS],
}


def test_a_100_kb_adversarial_description_is_triaged(demo_env: TriageEnv) -> None:
    for name, description in ADVERSARIAL_DESCRIPTIONS.items():
        assert len(description) == MAX_CHARS, name
        with hard_stop():
            result = demo_env.triager.predict(
                [{"title": "Laptop will not boot", "description": description}], record=False
            )[0]
        assert set(result["fields"]) >= {"impact", "urgency", "category"}, name
        assert "priority" in result, name
