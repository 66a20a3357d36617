"""Solver backends (HiGHS direct, Pyomo with HiGHS or SCIP, OR-Tools CP-SAT) and diagnosis."""
