"""The sandbox runs LLM-written scripts in a limited child process: real outcomes only."""

from __future__ import annotations

import os
import socket
import sys
import textwrap

import pytest

from nl2opt.sandbox import (
    OUTPUT_CAP_BYTES,
    SandboxError,
    SandboxUnavailable,
    network_namespace_available,
    run_sandboxed,
)


def run(code: str, **kwargs):
    kwargs.setdefault("timeout", 20)
    kwargs.setdefault("cpu_seconds", 20)
    kwargs.setdefault("memory_mb", 1024)
    return run_sandboxed(textwrap.dedent(code), **kwargs)


def assert_blocked(outcome, words: str) -> None:
    assert outcome.status == "error", outcome
    assert "nl2opt sandbox:" in outcome.message
    assert words in outcome.message, outcome.message
    assert outcome.result is None or outcome.result.get("reached") is None


def test_plain_script_reports_result():
    outcome = run("""
        total = sum(range(10))
        print("working")
        nl2opt_report(total=total, names=["a", "b"])
    """)
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"total": 45, "names": ["a", "b"]}
    assert outcome.stdout == "working\n"
    assert outcome.returncode == 0


def test_marker_line_on_stdout_is_a_result():
    outcome = run("""
        print('NL2OPT_RESULT {"objective": 1.0}')
        print('NL2OPT_RESULT {"objective": 2.5}')
    """)
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"objective": 2.5}


def test_numpy_values_are_reported_as_plain_json():
    outcome = run("""
        import numpy as np
        nl2opt_report(x=np.arange(3), best=np.int64(7), score=np.float64(0.5))
    """)
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"x": [0, 1, 2], "best": 7, "score": 0.5}


def test_pyomo_highs_model_solves_inside_sandbox():
    outcome = run("""
        import pyomo.environ as pyo
        m = pyo.ConcreteModel()
        m.x = pyo.Var(within=pyo.NonNegativeReals)
        m.y = pyo.Var(within=pyo.NonNegativeIntegers)
        m.c = pyo.Constraint(expr=m.x + 2 * m.y <= 7.5)
        m.d = pyo.Constraint(expr=m.x <= 2)
        m.o = pyo.Objective(expr=3 * m.x + 5 * m.y, sense=pyo.maximize)
        pyo.SolverFactory("appsi_highs").solve(m)
        nl2opt_report(objective=pyo.value(m.o), y=pyo.value(m.y))
    """, memory_mb=2048)
    assert outcome.status == "ok", outcome.message
    # y integer: y=2 leaves x<=2 (capped by d) -> 3*2 + 5*2 = 16; y=3 -> x=1.5 -> 19.5.
    assert outcome.result["objective"] == pytest.approx(19.5)
    assert outcome.result["y"] == pytest.approx(3)


def test_highspy_direct_solves_inside_sandbox():
    outcome = run("""
        import highspy
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        x = h.addVariable(lb=0, ub=4)
        y = h.addVariable(lb=0, ub=10)
        h.addConstr(x + y <= 6)
        h.maximize(2 * x + y)
        nl2opt_report(objective=h.getInfo().objective_function_value)
    """, memory_mb=2048)
    assert outcome.status == "ok", outcome.message
    assert outcome.result["objective"] == pytest.approx(10.0)


def test_socket_creation_is_blocked():
    outcome = run("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        nl2opt_report(reached=True)
    """)
    assert_blocked(outcome, "network access is blocked")


def test_connect_to_localhost_is_blocked_even_with_a_listener():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        outcome = run(f"""
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=2)
            nl2opt_report(reached=True)
        """)
    finally:
        listener.close()
    assert_blocked(outcome, "network access is blocked")


def test_network_namespace_is_used_when_available():
    outcome = run("nl2opt_report(done=True)")
    assert outcome.network_isolation == "namespace+audit"  # bubblewrap's own namespace
    unsafe = run("nl2opt_report(done=True)", unsafe_no_isolation=True)
    expected = "namespace+audit" if network_namespace_available() else "audit"
    assert unsafe.network_isolation == expected
    allowed = run("nl2opt_report(done=True)", allow_network=True)
    assert allowed.network_isolation == "none"


def test_reading_etc_passwd_and_ssh_keys_is_blocked():
    outcome = run("""
        text = open("/etc/passwd").read()
        nl2opt_report(reached=True, text=text)
    """)
    assert_blocked(outcome, "reading '/etc/passwd' is blocked")
    home = os.path.expanduser("~")
    outcome = run(f"""
        import os
        os.listdir({os.path.join(home, ".ssh")!r})
        nl2opt_report(reached=True)
    """)
    assert_blocked(outcome, "is blocked")


def test_symlink_in_workdir_does_not_smuggle_a_read():
    outcome = run("""
        import os
        os.symlink("/etc/passwd", "innocent.txt")
        open("innocent.txt").read()
        nl2opt_report(reached=True)
    """)
    assert_blocked(outcome, "reading '/etc/passwd' is blocked")


def test_writing_outside_workdir_is_blocked(tmp_path):
    marker = tmp_path / "created_by_sandbox.txt"
    outcome = run(f"""
        with open({str(marker)!r}, "w") as handle:
            handle.write("escaped")
        nl2opt_report(reached=True)
    """)
    assert_blocked(outcome, "writing")
    assert not marker.exists()


def test_files_are_readable_and_workdir_is_writable():
    outcome = run("""
        import csv, json
        rows = list(csv.DictReader(open("data/demand.csv")))
        with open("out.json", "w") as handle:
            json.dump(rows, handle)
        nl2opt_report(total=sum(int(r["qty"]) for r in rows),
                      echoed=len(json.load(open("out.json"))), cfg=open("cfg.txt").read())
    """, files={"data/demand.csv": "item,qty\na,3\nb,4\n", "cfg.txt": "k=1"})
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"total": 7, "echoed": 2, "cfg": "k=1"}


@pytest.mark.parametrize("name", ["/etc/x", "../up.txt", "main.py"])
def test_bad_file_names_are_rejected(name):
    with pytest.raises(SandboxError, match="not allowed"):
        run_sandboxed("pass", files={name: "x"})


def test_unusable_arguments_raise_sandbox_error():
    with pytest.raises(SandboxError, match="not found"):
        run_sandboxed("pass", python="/nonexistent/python3")
    with pytest.raises(SandboxError, match="timeout must be positive"):
        run_sandboxed("pass", timeout=0)


@pytest.mark.parametrize("statement", [
    "import os; os.fork()",
    "import subprocess; subprocess.run(['echo', 'hi'])",
    "import os; os.system('echo hi')",
    "import os; os.execv('/bin/echo', ['echo'])",
    "import _posixsubprocess; _posixsubprocess.fork_exec()",
    "import ctypes; ctypes.CDLL(None).system(b'echo hi')",
])
def test_starting_processes_is_blocked(statement):
    outcome = run(statement + "\nnl2opt_report(reached=True)")
    assert_blocked(outcome, "is blocked")
    assert "hi" not in outcome.stdout


def test_wall_clock_timeout_stops_a_sleeping_loop():
    outcome = run("""
        import time
        while True:
            time.sleep(0.05)
    """, timeout=2)
    assert outcome.status == "timeout", outcome
    assert outcome.wall_seconds >= 2  # a bound on a hang below, not a timing target
    assert outcome.wall_seconds < 12
    assert "wall-clock" in outcome.message


def test_cpu_limit_stops_a_busy_loop():
    outcome = run("""
        while True:
            pass
    """, timeout=15, cpu_seconds=1)
    assert outcome.status == "cpu_limit", outcome  # stopped by the CPU limit, not the clock
    assert outcome.cpu_seconds > 0.5  # it did spin (the exact figure depends on the load)


@pytest.mark.parametrize("allocation", [
    "data = b' ' * 10**12",
    "data = []\nwhile True:\n    data.append(' ' * 10**6)",
])
def test_memory_limit_is_reported(allocation):
    outcome = run(allocation, memory_mb=256, timeout=20)
    assert outcome.status == "memory_limit", outcome
    assert "256 MB" in outcome.message


def test_huge_output_is_truncated_without_hanging():
    outcome = run("""
        import sys
        line = "x" * 1023 + "\\n"
        for _ in range(100 * 1024):
            sys.stdout.write(line)
        nl2opt_report(done=True)
    """, timeout=30)
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"done": True}
    assert len(outcome.stdout) <= OUTPUT_CAP_BYTES + 200
    assert "bytes cut by the nl2opt sandbox" in outcome.stdout


def test_crash_is_an_error_with_traceback_tail():
    outcome = run("""
        def build():
            raise ValueError("capacity for plant P3 is missing")
        build()
    """)
    assert outcome.status == "error"
    assert outcome.returncode == 1
    assert "ValueError: capacity for plant P3 is missing" in outcome.message
    assert 'File "main.py", line 3, in build' in outcome.message


def test_no_result_and_bad_results_are_no_result():
    silent = run("x = 1")
    assert silent.status == "no_result" and "nl2opt_report" in silent.message
    not_json = run("print('NL2OPT_RESULT {not json')")
    assert not_json.status == "no_result" and "not valid JSON" in not_json.message
    not_object = run("print('NL2OPT_RESULT [1, 2]')")
    assert not_object.status == "no_result" and "not an object" in not_object.message
    too_big = run("nl2opt_report(blob='x' * (2 * 1024 * 1024))")
    assert too_big.status == "error" and "more than" in too_big.message
    unserializable = run("nl2opt_report(value=object())")
    assert unserializable.status == "error" and "not JSON-serializable" in unserializable.message


def test_parent_environment_and_files_are_untouched(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    before = dict(os.environ)
    cwd = os.getcwd()
    outcome = run("""
        import os
        os.environ["INJECTED"] = "1"
        nl2opt_report(key=os.environ.get("OPENAI_API_KEY"), env=sorted(os.environ),
                      cwd=os.getcwd())
    """)
    assert outcome.status == "ok", outcome.message
    assert outcome.result["key"] is None
    assert not any("KEY" in name or "TOKEN" in name for name in outcome.result["env"])
    assert outcome.result["cwd"] != cwd
    assert not os.path.exists(outcome.result["cwd"])  # temp dir cleaned up
    assert dict(os.environ) == before
    assert os.getcwd() == cwd


def test_guard_cannot_be_tampered_with_from_user_code():
    outcome = run("""
        import builtins, os, os.path
        builtins.isinstance = lambda *a: False
        builtins.len = lambda *a: 0
        os.path.realpath = lambda p: "/tmp"
        os.lstat = None
        open("/etc/passwd").read()
        nl2opt_report(reached=True)
    """)
    assert_blocked(outcome, "reading '/etc/passwd' is blocked")
    outcome = run("""
        import resource
        resource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))
    """)
    assert_blocked(outcome, "resource.setrlimit is blocked")


@pytest.fixture
def fresh_isolation_checks():
    """Forget cached availability probes before and after a test that fakes their inputs."""
    from nl2opt.sandbox import bubblewrap, seccomp_filter

    caches = (bubblewrap._probe, seccomp_filter.seccomp_program)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


def test_scripts_run_under_bubblewrap_and_seccomp():
    outcome = run("nl2opt_report(done=True)")
    assert outcome.status == "ok", outcome.message
    assert outcome.isolation == "bubblewrap+seccomp"


def test_without_bubblewrap_the_sandbox_fails_closed(monkeypatch, tmp_path,
                                                      fresh_isolation_checks):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    with pytest.raises(SandboxUnavailable) as refused:
        run("nl2opt_report(done=True)")
    message = str(refused.value)
    assert "bubblewrap (bwrap) is not installed" in message
    assert "apt-get install bubblewrap" in message and "--unsafe-no-isolation" in message


def test_without_a_seccomp_binding_the_sandbox_fails_closed(monkeypatch, fresh_isolation_checks):
    monkeypatch.setitem(sys.modules, "seccomp", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "pyseccomp", None)
    with pytest.raises(SandboxUnavailable, match="pyseccomp is not installed"):
        run("nl2opt_report(done=True)")


def test_unsafe_no_isolation_runs_where_no_sandbox_can_be_built(monkeypatch, tmp_path,
                                                                  fresh_isolation_checks):
    monkeypatch.setenv("PATH", str(tmp_path))
    outcome = run("nl2opt_report(done=True)", unsafe_no_isolation=True)
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"done": True} and outcome.isolation == "none"
    blocked = run("open('/etc/passwd').read()", unsafe_no_isolation=True)
    assert_blocked(blocked, "reading '/etc/passwd' is blocked")  # the audit layer remains


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), -1.0])
def test_non_finite_or_negative_limits_raise_sandbox_error(limit):
    with pytest.raises(SandboxError, match="must be positive and finite"):
        run_sandboxed("pass", timeout=limit)
    with pytest.raises(SandboxError, match="must be positive and finite"):
        run_sandboxed("pass", cpu_seconds=limit)


def test_scip_and_ortools_solve_inside_the_sandbox():
    outcome = run("""
        import pyscipopt
        from ortools.linear_solver import pywraplp
        from ortools.sat.python import cp_model

        scip = pyscipopt.Model()
        scip.hideOutput()
        x = scip.addVar(vtype="I", lb=0, ub=10)
        scip.addCons(3 * x <= 20)
        scip.setObjective(x, "maximize")
        scip.optimize()

        glop = pywraplp.Solver.CreateSolver("GLOP")
        y = glop.NumVar(0, 4, "y")
        glop.Maximize(2 * y)
        glop.Solve()

        sat = cp_model.CpModel()
        z = sat.NewIntVar(0, 9, "z")
        sat.Add(2 * z <= 13)
        sat.Maximize(z)
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 2  # threads: allowed, unlike processes
        solver.Solve(sat)
        nl2opt_report(scip=scip.getObjVal(), glop=glop.Objective().Value(),
                      sat=solver.ObjectiveValue())
    """, memory_mb=2048)
    assert outcome.status == "ok", outcome.message
    assert outcome.result == {"scip": 6.0, "glop": 8.0, "sat": 6.0}
