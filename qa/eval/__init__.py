"""Evaluation: ``metrics`` (the CMRC 2018 EM / F1), ``squad`` (QA sets as items, the split by article) and
``harness`` (``python -m qa eval``: ask every item, score retrieval, answers, abstention, latency)."""
