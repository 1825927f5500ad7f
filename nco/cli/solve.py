"""`nco solve`: one instance file, or every instance file of a folder in worker processes."""

from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

from envs.errors import EXIT_BAD_INPUT, EXIT_FEASIBLE, EXIT_INFEASIBLE, Interrupted, NcoError, NoSolutionFound
from nco.cli.exits import Terminated
from nco.cli.matrix_source import load_options, report_unreachable
from nco.cli.render import say, shown, summary, trace_text
from nco.solvers.pipeline import SolveOptions, solve_and_check
from nco.threads import available_cores, split_cores

INSTANCE_SUFFIXES = (".json", ".vrp", ".txt")


def options(args) -> SolveOptions:
    """The solve's options from the command line, checked; the solver's name as the registry spells it."""
    from nco.solvers.registry import canonical, options_for

    name = canonical(args.solver)
    opts = SolveOptions(
        solver=options_for(name, 0.0).solver,
        time_limit=args.time_limit,
        seed=args.seed,
        checkpoint=args.checkpoint,
        num_starts=args.starts or None,
        num_augment=args.augment,
        decode=args.decode,
        num_seeds=args.seeds,
        warm_start=args.warm_start,
        plan_quantile=_quantile(args.plan_quantile),
        samples=args.samples,
        threads=args.threads,
    )
    opts.validate(OPTION_NAMES)
    if name == "policy":  # the policy alone: no search, whatever the budget
        opts = replace(opts, time_limit=0.0)
    if name == "policy-greedy":  # its one greedy rollout, whatever --starts and --augment say
        opts = replace(opts, time_limit=0.0, num_starts=None, num_augment=1)
    if name == "ortools+policy":
        opts = replace(opts, warm_start=True)
    return opts


def _quantile(text: str) -> float | None:
    if text == "mean":
        return None
    try:
        q = float(text)
    except ValueError:
        q = float("nan")
    if not 0 < q < 1:
        raise NcoError(f"--plan-quantile must be 'mean' or a number between 0 and 1, got {text!r}")
    return q


# what each SolveOptions field is called on the command line, for SolveOptions.validate's messages
OPTION_NAMES = {
    "time_limit": "--time-limit",
    "solver": "--solver",
    "num_starts": "--starts",
    "num_seeds": "--seeds",
    "num_augment": "--augment",
    "decode": "--decode",
    "samples": "--samples",
    "threads": "--threads",
    "seed": "--seed",
}


def cmd_solve(args) -> int:
    """Solve one file (or each file of a folder). Everything that can be refused is refused before the solve
    (options, output paths, the instance); the summary is printed before the optional files are written, and
    a write that fails names its file without losing the plan. Ctrl-C or SIGTERM ends the search with its best
    plan so far, printed and saved as interrupted (exit 130 or 143)."""
    path = Path(args.instance)
    opts = options(args)
    opts.validate(OPTION_NAMES)
    if args.workers < 0:
        raise NcoError(f"--workers must be 1 or more (0: one per core), got {args.workers}")
    if path.is_dir():
        return solve_folder(path, args, opts)
    if args.unreachable == "report":
        return report_unreachable(args)
    if opts.threads and opts.threads > available_cores():  # more threads than cores only wait for each other
        print(
            f"note: {available_cores()} policy threads, not {opts.threads}: {available_cores()} cores", file=sys.stderr
        )
        opts = replace(opts, threads=available_cores())
    check_targets(args, folder=False)
    from envs.io.load import load_instance

    instance = load_instance(path, **load_options(args))
    if args.plot and instance.coords is None:
        raise NcoError(f"--plot {args.plot}: instance {instance.name} has no coordinates to draw")
    solution, report, stopped = solve_stoppably(instance, opts, announce=progress_wanted())
    complete = report.feasible and not instance.dropped  # dropped clients: an incomplete plan
    args.exit_code = 128 + stopped if stopped else EXIT_FEASIBLE if complete else EXIT_INFEASIBLE
    say(summary(instance, solution, report, routes=not args.quiet))
    if args.trace:
        say(trace_text(solution))
    _write_files(args, instance, solution, report)
    return args.exit_code


def _write_files(args, instance, solution, report) -> None:
    """The solution JSON, the routes' picture and the trace's, after the summary: a write that fails names its
    file, with the routes printed first if --quiet kept them off the screen."""
    try:
        write_outputs(instance, solution, report, args.output, args.plot)
    except NcoError:
        if args.quiet:  # the routes are not on the screen: print them, so the plan is not lost with the file
            say("\n".join(summary(instance, solution, report).splitlines()[1:]))
        raise
    if args.trace_plot:
        from nco.cli.plot import plot_trace

        try:
            plot_trace(solution, args.trace_plot, instance.name)
        except ValueError as e:  # the solution is already written: say why there is no picture
            raise NcoError(str(e)) from None


def check_targets(args, folder: bool) -> None:
    """Refuse an output path that could not be written, before the budget is spent on a plan it would lose."""
    from envs.io.output_files import check_file_target, check_folder_target

    check = check_folder_target if folder else check_file_target
    if args.output:
        check(args.output, f"--output {args.output}")
    if args.plot:
        if folder:
            check(args.plot, f"--plot {args.plot}")
        else:
            from nco.cli.plot import check_plot_target

            check_plot_target(args.plot, f"--plot {args.plot}")
    if getattr(args, "trace_plot", None):
        if folder:
            raise NcoError("--trace-plot draws one solve's curve; it does not apply to a folder")
        from nco.cli.plot import check_plot_target

        check_plot_target(args.trace_plot, f"--trace-plot {args.trace_plot}")


def progress_wanted(on_a_terminal: bool = True) -> bool:
    """Progress lines on stderr: as NCO_PROGRESS says (1 on, 0 off), else on a terminal (folder workers: not
    by default, their lines would break the progress bar)."""
    flag = os.environ.get("NCO_PROGRESS", "")
    return flag == "1" if flag in ("0", "1") else on_a_terminal and sys.stderr.isatty()


def solve_stoppably(instance, opts: SolveOptions, announce: bool = False):
    """solve_and_check with Ctrl-C and SIGTERM deferred to the search: (solution, report, signal or 0). An
    interrupted solve's plan is the best so far, with a note saying so. `announce`: a stderr line when the
    solve starts (from then on a signal stops the search, not the process)."""
    from envs import interrupt

    try:
        with interrupt.stoppable():
            if announce:
                print(
                    f"solving {shown(instance.name)} ({instance.num_clients} clients) with {opts.solver} for"
                    f" {opts.time_limit:g} s; Ctrl-C stops it with the best plan so far",
                    file=sys.stderr,
                    flush=True,
                )
            try:
                solution, report = solve_and_check(instance, opts)
            finally:
                stopped = interrupt.requested() or 0
                interrupt.reset()
    except NoSolutionFound as e:
        if stopped:  # nothing to save: say it was the signal, not the budget
            raise Interrupted(
                f"interrupted by {interrupt.signal_name(stopped)} before any plan: {e}", stopped
            ) from None
        raise
    if stopped:
        note = f"interrupted by {interrupt.signal_name(stopped)}: the best plan found so far"
        name = interrupt.signal_name(stopped)  # meta.interrupted: for programs reading the JSON
        solution = replace(solution, notes=[note, *solution.notes], meta={**solution.meta, "interrupted": name})
    return solution, report, stopped


def write_outputs(instance, solution, report, output: str | None, plot: str | None) -> None:
    if output:
        from envs.io.json_format import save_solution_json

        save_solution_json(instance, solution, report, output)
    if plot:
        from nco.cli.plot import plot_routes

        plot_routes(instance, solution, report, plot)


_worker_stop = 0  # in a folder's worker process: the signal that ended the batch (its next files do not start)


def _worker_init() -> None:
    """A folder worker records Ctrl-C and SIGTERM instead of dying: the solve running stops at its next check
    (interrupt.stoppable) and saves its best plan; files not yet started are skipped."""

    def record(signum, frame):
        global _worker_stop
        _worker_stop = _worker_stop or signum

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, record)


def _solve_one(
    path: str, opts: SolveOptions, output: str | None, plot: str | None, load: dict | None = None
) -> tuple[str, str, int, bool]:
    """Worker: solve one file into the given output and plot paths; (path, its summary line, its exit status,
    whether its plan is feasible and complete).
    Errors come back as that file's line, so the other files still finish."""
    from envs.io.load import load_instance

    global _worker_stop
    name = shown(Path(path).name)
    if _worker_stop:
        return path, f"{name}: not started (interrupted)", 128 + _worker_stop, False
    try:
        instance = load_instance(path, **(load or {}))
        if plot and instance.coords is None:
            plot = None  # one file without coordinates does not stop the batch; its line says so
            missing = " (no picture: the instance has no coordinates)"
        else:
            missing = ""
        solution, report, stopped = solve_stoppably(instance, opts, announce=progress_wanted(on_a_terminal=False))
        _worker_stop = _worker_stop or stopped
        write_outputs(instance, solution, report, output, plot)
        line = summary(instance, solution, report, routes=False) + missing
        complete = report.feasible and not instance.dropped
        return path, line, 128 + stopped if stopped else EXIT_FEASIBLE if complete else EXIT_INFEASIBLE, complete
    except NcoError as e:
        return path, f"error: {e}", EXIT_BAD_INPUT if e.exit_code is None else e.exit_code, False
    except Exception as e:  # noqa: BLE001 - one file's failure is that file's line, not the batch's end
        first = str(e).splitlines()[0] if str(e) else ""
        return path, f"error: {name}: unexpected {type(e).__name__}: {first}", EXIT_BAD_INPUT, False


def output_names(files: list[str]) -> dict[str, str]:
    """Each file's stem for its outputs (a.json: a.solution.json, a.png); files whose stems collide (a.json
    and a.vrp) keep their whole names (a.json.solution.json, a.vrp.solution.json) so none overwrites another."""
    from collections import Counter

    stems = Counter(Path(f).stem for f in files)
    return {f: Path(f).stem if stems[Path(f).stem] == 1 else Path(f).name for f in files}


def solve_folder(folder: Path, args, opts: SolveOptions) -> int:
    """Solve every instance file of `folder` in worker processes; each file fails alone (its own error line).
    Ctrl-C or SIGTERM: the running solves stop with their best plans (saved, marked interrupted), files not
    started are skipped, every file's line is printed, and the exit status is 130 or 143."""
    files = _instance_files(folder)
    check_targets(args, folder=True)
    load = load_options(args)
    names = output_names(files)
    if any(names[f] != Path(f).stem for f in files):
        print(
            "note: files with one stem and different suffixes keep their suffix in their output names"
            " (a.json.solution.json)",
            file=sys.stderr,
        )
    workers, threads = _folder_cores(args, len(files))
    opts = replace(opts, threads=threads)
    started = time.perf_counter()

    def outputs(f: str) -> tuple[str | None, str | None]:
        stem = names[f]
        return (
            str(Path(args.output) / f"{stem}.solution.json") if args.output else None,
            str(Path(args.plot) / f"{stem}.png") if args.plot else None,
        )

    results, stopped = _solve_in_workers(files, workers, opts, load, outputs)
    return _folder_summary(files, results, stopped, started, workers)


def _instance_files(folder: Path) -> list[str]:
    """The folder's instance files, sorted, without the solutions a previous run wrote there."""
    files = sorted(str(p) for p in folder.iterdir() if p.suffix in INSTANCE_SUFFIXES and p.is_file())
    files = [f for f in files if not f.endswith(".solution.json")]
    if not files:
        raise NcoError(f"no instance files (*.json, *.vrp, *.txt) in folder {folder}")
    return files


def _folder_cores(args, num_files: int) -> tuple[int, int]:
    """(worker processes, policy threads per worker), with a note where either is fewer than asked."""
    # never more busy threads than cores: policies decode with their share of the cores each
    workers, threads = split_cores(args.workers, args.threads, num_files)
    if args.workers > workers:
        print(
            f"note: {workers} workers, not {args.workers}: {available_cores()} cores, {num_files} files",
            file=sys.stderr,
        )
    if args.threads and args.threads > threads:
        print(
            f"note: {threads} policy threads per worker, not {args.threads}: {available_cores()} cores for"
            f" {workers} workers",
            file=sys.stderr,
        )
    return workers, threads


def _solve_in_workers(files: list[str], workers: int, opts: SolveOptions, load: dict, outputs) -> tuple[dict, int]:
    """Each file's (line, feasible and complete), solved in a process pool with a progress bar; and the signal
    that stopped the batch (0 if none)."""
    from tqdm import tqdm

    results: dict[str, tuple[str, bool]] = {}
    stop = {"signal": 0}
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
        futures = {pool.submit(_solve_one, f, opts, *outputs(f), load): f for f in files}
        on_signal = _batch_stopper(pool, futures, stop)
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            bar = tqdm(as_completed(futures), total=len(files), unit="instance", disable=None, file=sys.stderr)
            for fut in bar:
                f = futures[fut]
                results[f] = _file_result(fut, f)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return results, stop["signal"]


def _batch_stopper(pool: ProcessPoolExecutor, futures: dict, stop: dict):
    """The folder's SIGINT/SIGTERM handler: the first signal cancels the files not started and passes the signal
    on to the running solves (they stop with their best plans); a second ends everything now."""

    def on_signal(signum, frame):
        if stop["signal"]:  # a second signal: end now, the running solves with it
            for proc in list(pool._processes.values()):
                proc.kill()
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated()
        stop["signal"] = signum
        for fut in futures:
            fut.cancel()  # files not started stay unstarted
        for proc in list(pool._processes.values()):  # a SIGTERM to nco alone reaches the solves too
            try:
                os.kill(proc.pid, signum)
            except OSError:
                pass

    return on_signal


def _file_result(fut, f: str) -> tuple[str, bool]:
    """One finished (or cancelled) file's line and whether its plan is feasible and complete."""
    if fut.cancelled():
        return f"{shown(Path(f).name)}: not started (interrupted)", False
    try:
        _, line, _, complete = fut.result()
    except Exception as e:  # noqa: BLE001 - a worker that died (memory): that file's line
        line, complete = f"error: {shown(Path(f).name)}: its worker process ended ({type(e).__name__})", False
    return line, complete


def _folder_summary(files: list[str], results: dict, stopped: int, started: float, workers: int) -> int:
    """Print every file's line in file order, then the batch's; its exit status."""
    for f in files:
        say(results[f][0])
    feasible = sum(complete for _, complete in results.values())
    tail = f"{len(files)} instances, {feasible} feasible, {time.perf_counter() - started:.1f} s with {workers} workers"
    if stopped:
        done = sum(not line.endswith("not started (interrupted)") for line, _ in results.values())
        from envs import interrupt

        say(f"{tail}; interrupted by {interrupt.signal_name(stopped)}: {done} of {len(files)} files ran")
        return 128 + stopped
    say(tail)
    return 0 if feasible == len(files) else 1
