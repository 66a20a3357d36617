"""Data synthesis (OptMATH-style): verified problem/formulation pairs at controlled
complexity.

Families (`nl2opt.synthesis.families`) generate nl2opt formulations from seeded
random data; `instance.make_instance` compiles, classifies, solves and scores one
instance (a pure function, so a process pool or a Ray task can call it); the LLM
side back-translates instances into text, criticises and refines it, formulates
the text again with nl2opt's own pipeline and accepts a pair when the recovered
formulation is equivalent to the source. See docs/synthesis.md.
"""
