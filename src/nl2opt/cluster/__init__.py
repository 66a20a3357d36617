"""Running nl2opt's work on a Ray cluster (`pip install 'nl2opt[ray]'`).

`session.ray_session` joins or starts a cluster, `solve_pool.RaySolvePool` runs
the solve stage as Ray tasks behind the same `run(jobs)` interface as the local
`SolvePool`, and `runtime.execution` hands a command the LLM backend and solve
pool for `--ray` or for this machine. The LLM side lives with the other
backends: `nl2opt.llm.ray_vllm` (vLLM through Ray Data) and
`nl2opt.llm.endpoints` (several OpenAI-compatible servers). Ray is imported only
inside these modules, never by `import nl2opt`.
"""
