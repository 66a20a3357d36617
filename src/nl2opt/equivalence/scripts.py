"""Pyomo or gurobipy scripts -> InstanceModel, by running them in the sandbox.

The script never runs in this process. `run_sandboxed` deletes its working
directory when the child ends, so an epilogue appended to the script sends the
model back as text through `nl2opt_report` (capped at 1 MB): it takes the file
the script wrote (`model.mps` or `model.lp`), or else writes the global `model`
(a gurobipy Model or a Pyomo ConcreteModel) itself. HiGHS then reads the text.
"""

from __future__ import annotations

from nl2opt.equivalence.instance import EquivalenceInputError, InstanceModel, from_model_text

_EPILOGUE = '''

# --- appended by nl2opt.equivalence: send the model back as text ---
def _nl2opt_export():
    import os
    for name in ("model.mps", "model.lp"):
        if os.path.exists(name):
            with open(name, encoding="utf-8", errors="replace") as handle:
                return name[-3:], handle.read()
    candidate = globals().get("model")
    if candidate is None:
        raise RuntimeError("the script left no model.lp / model.mps file and no global "
                           "'model'; write the model to model.mps (gurobipy) or model.lp")
    module = type(candidate).__module__
    if module.startswith("gurobipy"):
        candidate.update()
        candidate.write("model.mps")
        return _nl2opt_read("model.mps")
    if module.startswith("pyomo"):
        candidate.write("model.lp", io_options={"symbolic_solver_labels": True})
        return _nl2opt_read("model.lp")
    raise RuntimeError("the global 'model' is a %s, not a gurobipy or Pyomo model" % module)


def _nl2opt_read(name):
    with open(name, encoding="utf-8", errors="replace") as handle:
        return name[-3:], handle.read()


_nl2opt_format, _nl2opt_text = _nl2opt_export()
nl2opt_report(format=_nl2opt_format, text=_nl2opt_text)
'''


def instance_from_script(code: str, *, source: str = "script", timeout: float = 120,
                         files: dict[str, str | bytes] | None = None) -> InstanceModel:
    """Run a model-building script in the sandbox and read the model it built."""
    from nl2opt.sandbox import run_sandboxed

    result = run_sandboxed(code + _EPILOGUE, files=files, timeout=timeout,
                           cpu_seconds=int(timeout))
    if not result.ok or not result.result or "text" not in result.result:
        raise EquivalenceInputError(f"{source}: the script did not produce a model "
                                    f"({result.status}): {result.message}")
    suffix = "." + str(result.result.get("format", "lp"))
    return from_model_text(result.result["text"], suffix, source=source)
