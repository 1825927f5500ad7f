"""Where lon/lat instances get their matrices (--osrm-url, --haversine, --unreachable, --osrm-timeout), for
nco solve and nco check alike, and the --unreachable report printed instead of solving."""

from __future__ import annotations

import math

from envs.errors import NcoError
from nco.cli.render import say, shown


def load_options(args) -> dict:
    """Keyword arguments for envs.io.load.load_instance (where lon/lat instances get their matrices)."""
    if args.unreachable != "refuse" and not args.osrm_url:  # only road tables have unreachable pairs
        raise NcoError(f"--unreachable {args.unreachable} needs --osrm-url")
    if not 0 < args.osrm_timeout < math.inf:  # also refuses nan, which argparse's float accepts
        raise NcoError(f"--osrm-timeout must be a positive number of seconds, got {args.osrm_timeout:g}")
    return {
        "osrm_url": args.osrm_url,
        "haversine": args.haversine,
        "unreachable": args.unreachable,
        "osrm_timeout": args.osrm_timeout,
    }


def report_unreachable(args) -> int:
    """`--unreachable report`: print which locations cannot reach which by road, instead of solving.

    The loader answers with UnreachablePairs, carrying the road table; with --output the report is
    also written there as JSON. Exit 1 (incomplete) if any pair has no road route, 0 if none.
    """
    from envs.io.json_format import dumps
    from envs.io.load import load_instance
    from envs.roads.osrm_client import UnreachablePairs

    try:
        load_instance(args.instance, **load_options(args))
    except UnreachablePairs as found:
        say(reachability_text(found))
        if getattr(args, "output", None):
            missing, ids = found.missing, found.ids
            rows = [
                {
                    "id": ids[i],
                    "cannot_reach": [ids[j] for j in missing[i].nonzero()[0]],
                    "cannot_be_reached_from": [ids[j] for j in missing[:, i].nonzero()[0]],
                }
                for i in range(len(ids))
                if missing[i].any() or missing[:, i].any()
            ]
            doc = {
                "instance": found.name,
                "locations": len(ids),
                "ordered_pairs": len(ids) * (len(ids) - 1),
                "unreachable_pairs": int(missing.sum()),
                "dropped_by_drop": found.dropped,
                "unreachable": rows,
            }
            from envs.io.output_files import write_text

            write_text(args.output, dumps(doc))
        return found.exit_code
    raise NcoError(f"{args.instance}: no road table to report on")  # the loader raises in report mode


def reachability_text(found, first: int = 3) -> str:
    """A table of the locations with unreachable pairs: how many locations each cannot reach and how many
    cannot reach it, the first few of each, whether --unreachable drop would drop it; then the one-line total."""
    missing, ids = found.missing, found.ids
    dropped = set(map(str, found.dropped))

    def few(js) -> str:
        names = [shown(ids[j]) for j in js[:first]]
        return f"{len(js)}" + (f" ({', '.join(names)}{', ...' if len(js) > first else ''})" if len(js) else "")

    rows = [
        (shown(ids[i]), few(out.nonzero()[0]), few(into.nonzero()[0]), "dropped" if str(ids[i]) in dropped else "")
        for i, (out, into) in enumerate(zip(missing, missing.T))
        if out.any() or into.any()
    ]
    lines = [f"{shown(found.name)}: road reachability of {len(ids)} locations (the depot and {len(ids) - 1} clients)"]
    if rows:
        head = ("location", "cannot reach", "cannot be reached from", "--unreachable drop")
        widths = [max(len(r[k]) for r in [head, *rows]) for k in range(4)]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    lines.append(found.total)
    return "\n".join(lines)
