"""One entry point for instance files: `load_instance(path)` picks the reader by extension.

Every failure, whatever the format, becomes an `InstanceError` whose message
is one line naming the file and the problem; callers never see a parser's
traceback.
"""

from __future__ import annotations

from pathlib import Path

from envs.errors import InstanceError
from envs.io.json_format import load_instance_json
from envs.io.vrplib_format import load_vrplib
from envs.model.instance import Instance

READERS = {".json": load_instance_json, ".vrp": load_vrplib, ".txt": load_vrplib}


def load_instance(
    path: str | Path,
    osrm_url: str | None = None,
    haversine: bool = False,
    unreachable: str = "refuse",
    osrm_timeout: float | None = None,
) -> Instance:
    """Read an instance: `.json` (city.json format), `.vrp` (VRPLIB) or `.txt` (Solomon or VRPLIB).

    A lon/lat JSON file without matrices needs `osrm_url` (road matrices from
    that OSRM server) or `haversine=True` (straight lines); otherwise it is
    refused. Both are ignored by files that carry their own distances.
    `unreachable` ("refuse", "drop" or "report") says what becomes of pairs
    without a road route (see envs.io.json_format.instance_from_dict). `osrm_timeout` bounds each
    request to the OSRM server, in seconds (default 60; see envs.roads.osrm_client.road_matrices).
    """
    path = Path(path)
    if not path.exists():
        raise InstanceError(f"file not found: {path}")
    if path.is_dir():
        raise InstanceError(f"{path}: is a directory, not an instance file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        kinds = ", ".join(READERS)
        raise InstanceError(
            f"{path.name}: unknown file type {path.suffix or '(no extension)'!r}; expected one of {kinds}"
        )
    try:
        if reader is load_instance_json:
            from envs.roads.osrm_client import request_timeout  # json_format calls road_matrices without a timeout

            with request_timeout(osrm_timeout):
                return load_instance_json(path, osrm_url=osrm_url, haversine=haversine, unreachable=unreachable)
        if unreachable == "report":  # VRPLIB files carry their own distances: no road routes to report on
            raise InstanceError(f"{path.name}: --unreachable report checks the road routes of lon/lat JSON files only")
        return reader(path)
    except InstanceError as err:
        raise InstanceError(_one_line(str(err))) from None
    except (OSError, ValueError, TypeError, KeyError, IndexError, UnicodeError) as err:
        raise InstanceError(f"{path.name}: {_one_line(str(err)) or type(err).__name__}") from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
