"""Join or start a Ray cluster for the length of one command; what it offers.

`--ray local` starts a private cluster on this machine (`ray.init(address=
"local")`, even if another one runs here), `--ray auto` joins the cluster this
machine belongs to (started with `ray start`; error if there is none), and
`--ray HOST:PORT` or `ray://HOST:PORT` joins that one. A process already
connected to Ray (an API caller who ran `ray.init` itself, a test) keeps its
connection: the session uses it and leaves it open.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from nl2opt.errors import Nl2OptError

INSTALL_HINT = "pip install 'nl2opt[ray]' (the same version on every node of the cluster)"
MIB = 1024 * 1024


class ClusterError(Nl2OptError):
    """Ray is missing, or the cluster cannot be reached or cannot run the work."""


@dataclass(frozen=True)
class ClusterInfo:
    """What a command needs to know about the cluster it runs on."""

    address: str
    dashboard_url: str | None
    nodes: int
    cpus: int
    gpus: int
    largest_node_memory_mb: int

    def describe(self) -> str:
        where = f"; dashboard {self.dashboard_url}" if self.dashboard_url else ""
        return (f"Ray cluster {self.address}: {self.nodes} node(s), {self.cpus} CPU(s), "
                f"{self.gpus} GPU(s){where}")


def import_ray() -> Any:
    """The ray module, or a ClusterError saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ClusterError(f"--ray needs Ray, which is not installed ({error}). Install it "
                           f"with {INSTALL_HINT}, or run without --ray.") from error
    return ray


def check_address(address: str) -> str:
    """`address` if it is one `--ray` understands, else a ClusterError listing the forms."""
    address = address.strip()
    if address in ("local", "auto") or (":" in address and " " not in address):
        return address
    raise ClusterError(f"--ray {address!r} is not a cluster address. Use --ray local (start "
                       "one on this machine), --ray auto (join the cluster `ray start` made "
                       "here), or --ray HOST:PORT / ray://HOST:PORT.")


def init_kwargs(address: str, num_cpus: int | None) -> dict[str, Any]:
    """The `ray.init` arguments for `address`; a CPU count only for a cluster we start."""
    if address == "local":
        return {"address": "local", "num_cpus": num_cpus}
    return {"address": address}


@contextmanager
def ray_session(address: str, *, num_cpus: int | None = None,
                include_dashboard: bool | None = None) -> Iterator[ClusterInfo]:
    """Connect to (or start) the cluster at `address` and disconnect at the end."""
    ray = import_ray()
    if ray.is_initialized():
        yield describe_cluster(ray, None)
        return
    try:
        context = ray.init(**init_kwargs(check_address(address), num_cpus),
                           include_dashboard=include_dashboard)
    except ConnectionError as error:
        raise ClusterError(f"cannot reach a Ray cluster at {address!r}: {error}. Start one "
                           "with `ray start --head` (see docs/scaling.md), or use --ray local."
                           ) from error
    try:
        yield describe_cluster(ray, context)
    finally:
        ray.shutdown()


def describe_cluster(ray: Any, context: Any) -> ClusterInfo:
    """Nodes, CPUs, GPUs and the dashboard of the connected cluster."""
    resources = ray.cluster_resources()
    alive = [node for node in ray.nodes() if node.get("Alive")]
    memory = max((node.get("Resources", {}).get("memory", 0) for node in alive), default=0)
    url = getattr(context, "dashboard_url", None) or dashboard_url(ray)
    if url and not url.startswith(("http://", "https://")):
        url = f"http://{url}"
    return ClusterInfo(address=ray.get_runtime_context().gcs_address, dashboard_url=url or None,
                       nodes=len(alive), cpus=int(resources.get("CPU", 0)),
                       gpus=int(resources.get("GPU", 0)),
                       largest_node_memory_mb=int(memory // MIB))


def dashboard_url(ray: Any) -> str | None:
    """The dashboard of a cluster this process was already connected to, if any."""
    try:  # not public API; without it only the dashboard link is missing
        from ray._private.worker import get_dashboard_url

        return get_dashboard_url() or None
    except Exception:  # noqa: BLE001 - any failure just means no link
        return None
