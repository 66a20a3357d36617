"""The formulate -> validate -> compile -> solve -> check pipeline, with self-correction."""
