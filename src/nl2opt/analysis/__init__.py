"""After the solve: questions an analyst asks of a solved model, each answered by a solver run.

- `sensitivity_text`: shadow prices, reduced costs and ranging as plain sentences
  (numbers from `nl2opt.solvers.sensitivity`).
- `whatif`: "what if a parameter were ..." and "why not ...?" as re-solves of an
  edited model, compared with the plan they start from (`edits` makes the edits).
- `infeasibility`: the conflict in plain words and concrete repairs, one per lever,
  each verified by a re-solve (`conflict` reads the solver's infeasible subset).
- `exports`: the formulation, the model (LP, MPS, LaTeX), the solution tables and the
  Pyomo script as files.
- `questions`: the LLM maps a chat question to one of these tools; what the user
  sees is the tool's result, never the LLM's prose.
"""
