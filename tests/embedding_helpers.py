"""Dense-retrieval test material: a paraphrased problem that lexical ranking misses, a
library with distractors, a toy embedding model for the test server, and a fake LLM."""

from __future__ import annotations

import hashlib

from library_helpers import (
    PERCENT_CONDITION,
    PERCENT_EXPLANATION,
    farm_answer,
    hand_library,
    insight,
)

from nl2opt.library.store import LibraryStore

# Said without "percent", "%" or 40: BM25 finds nothing of the percentage insight in it.
PARAPHRASE = ("A farmer has 100 acres to plant with wheat and corn. The proportion of the land "
              "given to corn is capped: its share cannot exceed 30 hundredths. Each acre of corn "
              "earns $500 and each acre of wheat $300. All land is planted. How many acres of "
              "each maximize profit?")
# Insights that share words with the paraphrase but do not apply to its mistake.
DISTRACTORS = [
    "Land is divided between crops and every acre of it must be planted.",
    "Profit per unit differs between products and the objective maximizes total profit.",
    "A capacity caps the total amount that can be produced or stored in a period.",
    "Demand for each product must be met exactly in every period of the plan.",
]
SYNONYMS = {"proportion": "percentage", "share": "percentage", "fraction": "percentage"}
STOPWORDS = {"with", "each", "that", "from", "such", "every", "must", "many", "than", "only"}


def toy_embedding(text: str, size: int = 1024) -> list[float]:
    """Hashed bag of content words; synonyms share a bucket (a deterministic stand-in
    for a real embedding model, which knows that a share is a percentage)."""
    vector = [0.0] * size
    for word in "".join(c if c.isalnum() else " " for c in text.lower()).split():
        if len(word) > 3 and word not in STOPWORDS:
            word = SYNONYMS.get(word, word)
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % size] += 1.0
    return vector


def library_insights() -> list:
    distractors = [insight(text, sources=(f"train-d{k}",), level1="Objective",
                           level2=f"Topic {k}") for k, text in enumerate(DISTRACTORS)]
    percent = insight(PERCENT_CONDITION, explanation=PERCENT_EXPLANATION)
    others = [i for key, i in hand_library().items() if key != "percent"]
    return [percent, *others, *distractors]


def write_library(path) -> str:
    insights = library_insights()
    with LibraryStore(path) as store:
        for item in insights:
            store.add(item)
    return insights[0].id


def fake_model(body: dict):
    """Labels: none. Check: the candidates about percentages. Formulate: right only when
    the prompt shows the percentage insight."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "name the topics" in system:
        return {"labels": []}
    if "Decide for each one whether its condition holds" in system:
        lines = user.split("Problem:")[0].splitlines()
        return {"applicable": [int(line.split(".")[0]) for line in lines
                               if line[:1].isdigit() and "percentage" in line.lower()]}
    return farm_answer(user, correct=PERCENT_CONDITION in user)
