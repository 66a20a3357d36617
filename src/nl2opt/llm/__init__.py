"""LLM backends behind one typed boundary (`types`), chosen by a spec string (`spec.make_llm`)."""
