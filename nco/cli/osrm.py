"""`nco osrm build` and `nco osrm serve`: the OSRM road engine from the command line."""

from __future__ import annotations

import time

from envs.errors import NcoError
from nco.cli.exits import Terminated, fail


def cmd_osrm_build(args) -> int:
    from envs.roads import osrm_engine

    started = time.perf_counter()
    graph = osrm_engine.build(args.pbf, args.out, profile=args.profile)
    print(
        f"built {graph} ({args.profile} profile, MLD) in {time.perf_counter() - started:.1f} s;"
        f" graph fingerprint {osrm_engine.graph_fingerprint(graph)}"
    )
    print(f"serve it with: nco osrm serve --graph {graph}")
    return 0


def cmd_osrm_serve(args) -> int:
    from envs.roads import osrm_engine

    if not 0 < args.port < 65536:
        raise NcoError(f"--port must be between 1 and 65535, got {args.port}")
    graph = osrm_engine.check_graph(args.graph)
    proc = osrm_engine.serve(graph, args.port, args.max_table_size, ip=args.ip, quiet=False)
    try:  # from the start: a signal that lands while the banner is printed must stop osrm-routed too
        print(
            f"serving {graph} at http://{args.ip}:{args.port} (OSRM {osrm_engine.version()}, MLD,"
            f" max table size {args.max_table_size}, graph fingerprint {osrm_engine.graph_fingerprint(graph)});"
            " Ctrl-C stops",
            flush=True,
        )
        code = proc.wait()
    except (KeyboardInterrupt, Terminated):  # Ctrl-C or SIGTERM (a service manager): no orphaned osrm-routed
        osrm_engine.stop(proc)
        print("stopped", flush=True)
        return 0
    return fail(f"osrm-routed exited with status {code}") if code else 0
