"""Zero-shot request types for a desk with no labelled history (a fresh install).

Each ITIL request type is described in a few short sentences; a request takes the type whose
description its sentence embedding is closest to, with a confidence from a softmax over the
similarities, and abstains when the two closest types are too near to tell apart.  Used only
where no trained model exists, and marked as such (``decided_by: zero-shot``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

TYPE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "incident": (
        "Something that used to work is broken, fails or shows an error.",
        "The system, application or device is not working or is down.",
        "I cannot log in, connect, print or send since this morning.",
    ),
    "service_request": (
        "Please give me access, an account, a licence or a new device.",
        "Request to install software or set up something standard for a user.",
        "I need a new laptop, phone, headset, badge or mailbox for a new colleague.",
    ),
    "question": (
        "How do I do this? Where can I find it? Is it allowed?",
        "A question about how to use a system or where information is.",
    ),
    "improvement": (
        "A suggestion or an idea to make a system or a process better.",
        "It would be nice if the portal could do this; nothing is broken.",
    ),
    "change": (
        "Please change the configuration, the rules or the process of a system.",
        "We plan to roll out, migrate or upgrade a system in a maintenance window.",
    ),
}
# Softmax temperature over cosine similarities, and the least margin between the two closest
# types for a decision.
TEMPERATURE = 0.03
MARGIN = 0.02


class ZeroShotTypes:
    """Prototype vectors of each type; ``encode`` is the desk's sentence encoder."""

    def __init__(self, encode: Callable[[Sequence[str]], np.ndarray]) -> None:
        self.encode = encode
        self._protos: tuple[list[str], np.ndarray] | None = None

    def _prototypes(self) -> tuple[list[str], np.ndarray]:
        if self._protos is None:
            labels = [k for k, v in TYPE_DESCRIPTIONS.items() for _ in v]
            texts = [t for v in TYPE_DESCRIPTIONS.values() for t in v]
            self._protos = (labels, np.asarray(self.encode(texts), dtype=np.float32))
        return self._protos

    def predict(self, vector: np.ndarray) -> dict[str, object]:
        labels, protos = self._prototypes()
        sims = protos @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best: dict[str, float] = {}
        for label, s in zip(labels, sims, strict=True):
            best[label] = max(best.get(label, -1.0), float(s))
        names = list(best)
        z = np.asarray([best[n] for n in names]) / TEMPERATURE
        p = np.exp(z - z.max())
        p /= p.sum()
        order = np.argsort(-p)
        top = [[names[i], round(float(p[i]), 4)] for i in order[:3]]
        first, second = best[names[order[0]]], best[names[order[1]]]
        closest = labels[int(np.argmax(sims))]
        sentence = TYPE_DESCRIPTIONS[closest][
            int(np.argmax([s for lab, s in zip(labels, sims, strict=True) if lab == closest]))
        ]
        return {
            "value": names[order[0]],
            "confidence": top[0][1],
            "abstained": first - second < MARGIN,
            "top": top,
            "reason": f"closest to the description of {_article(closest)}: "
            f"{sentence!r} (similarity {first:.2f}, next {second:.2f})",
        }


def _article(label: str) -> str:
    words = label.replace("_", " ")
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"
