"""A picture of the routes (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from envs.model.check import Report
from envs.model.instance import Instance
from envs.model.solution import Solution


def _pyplot():
    """matplotlib's pyplot on the headless backend, imported only when a picture is asked for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int) -> Path:
    fig.tight_layout()
    from envs.io.output_files import replaced

    path = Path(path)
    try:
        with replaced(path) as tmp:  # the picture whole or not at all
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".").lower() or "png")
    finally:
        _pyplot().close(fig)
    return path


def check_plot_target(path: str | Path, what: str) -> Path:
    """Refuse, before any solving, a picture path that could not be written or whose suffix names no format."""
    from matplotlib.backend_bases import FigureCanvasBase

    from envs.errors import NcoError
    from envs.io.output_files import check_file_target

    path = check_file_target(path, what)
    formats = FigureCanvasBase.get_supported_filetypes()
    kind = path.suffix.lstrip(".").lower()
    if kind and kind not in formats:
        raise NcoError(f"{what}: .{kind} is not a picture format (use one of: {', '.join(sorted(formats))})")
    return path


def plot_routes(instance: Instance, solution: Solution, report: Report, path: str | Path) -> Path:
    plt = _pyplot()
    if instance.coords is None:
        raise ValueError(f"instance {instance.name} has no coordinates to draw")
    xy = instance.coords
    fig, ax = plt.subplots(figsize=(8, 8))
    cmap = plt.get_cmap("tab20")
    for k, route in enumerate(solution.routes):
        path_nodes = [0, *route.visits] + ([] if instance.open_routes else [0])
        ax.plot(xy[path_nodes, 0], xy[path_nodes, 1], "-", lw=1.2, color=cmap(k % 20), alpha=0.9)
    ax.scatter(xy[1:, 0], xy[1:, 1], s=12, c="black", zorder=3, label="clients")
    ax.scatter(xy[:1, 0], xy[:1, 1], s=120, c="red", marker="s", zorder=4, label="depot")
    state = "feasible" if report.feasible else "INFEASIBLE"
    ax.set_title(f"{instance.name} · {solution.solver} · cost {report.cost:.6g} · {report.num_routes} routes · {state}")
    if instance.coord_system == "lonlat":
        ax.set_xlabel("longitude (stops joined by straight lines; costs are road distances)")
        ax.set_ylabel("latitude")
        # a degree of longitude is cos(latitude) as long as one of latitude: keep the map's true shape
        ax.set_aspect(1 / np.cos(np.radians(xy[:, 1].mean())), adjustable="datalim")
    else:
        ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right")
    return _save(fig, path, dpi=120)


def plot_trace(solution: Solution, path: str | Path, name: str = "") -> Path:
    """The best-so-far cost over time of an anytime solve (its trace), as a step curve."""
    trace = solution.file_meta().get("trace")
    if not trace:
        raise ValueError(f"solver {solution.solver} recorded no anytime trace to plot")
    plt = _pyplot()
    t, c = zip(*trace)
    end = max(solution.timings.get("total", t[-1]), t[-1])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.step([*t, end], [*c, c[-1]], where="post", lw=1.5)
    ax.plot(t, c, "o", ms=3)
    ax.set_xlabel("seconds")
    ax.set_ylabel("best cost so far")
    ax.set_title(f"{name} · {solution.solver} · best {c[-1]:.6g}")
    ax.grid(alpha=0.3)
    return _save(fig, path, dpi=110)
