"""The experience library (AlphaOPT-style): solver-verified modelling insights learned from
failures, retrieved when formulating.

Low modules (no pipeline imports): `model` (data model), `store` (SQLite file),
`exchange` (JSONL), `retrieval` (BM25, taxonomy labels, embeddings, the LLM
applicability check). High modules (may import the pipeline): `learn`,
`refine`, `alphaopt`, `correction`, `commands` (the CLI).
"""
