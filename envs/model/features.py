"""What an instance has beyond a plain CVRP: the one vocabulary, and its named groups.

`Instance.features()` returns the set of `Feature`s an instance has (each has a neutral value it lacks);
solvers, the policy, the training distributions and the checkpoints all speak of them in these names. A
Feature is a str (StrEnum), so files and messages keep the plain names ("time_windows"), and a misspelt name
fails in `parse` instead of never matching.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Feature(StrEnum):
    ASYMMETRIC = "asymmetric"  # distance or duration matrix not symmetric
    TIME_WINDOWS = "time_windows"  # some window narrower than [0, inf)
    SERVICE_TIMES = "service_times"
    BACKHAULS = "backhauls"  # pickup demands brought back to the depot
    OPEN_ROUTES = "open_routes"  # vehicles do not return to the depot
    DURATION_LIMITS = "duration_limits"  # a vehicle type with a finite max route duration
    DISTANCE_LIMITS = "distance_limits"  # a vehicle type with a finite max route distance
    HETEROGENEOUS_FLEET = "heterogeneous_fleet"  # more than one vehicle type
    FLEET_LIMIT = "fleet_limit"  # a vehicle type with a limited count
    FIXED_COSTS = "fixed_costs"  # per-vehicle fixed cost or non-unit distance cost
    PROFILES = "profiles"  # per-client allowed masks or preferences
    STOCHASTIC = "stochastic"  # a travel-time model on top of the duration matrix


FEATURES: tuple[Feature, ...] = tuple(Feature)

# The route attributes the batched dynamics handle beyond capacity (envs/rl/dynamics.py), RouteFinder's variants.
VARIANT: frozenset[Feature] = frozenset(
    {
        Feature.TIME_WINDOWS,
        Feature.SERVICE_TIMES,
        Feature.BACKHAULS,
        Feature.OPEN_ROUTES,
        Feature.DURATION_LIMITS,
        Feature.DISTANCE_LIMITS,
    }
)
# The fleet group of the dynamics: vehicle types, their costs, zones and preferences.
FLEET: frozenset[Feature] = frozenset({Feature.HETEROGENEOUS_FLEET, Feature.FIXED_COSTS, Feature.PROFILES})


# The policy's input groups (nco.policy.model.ATTRIBUTE_GROUPS, a checkpoint's `attributes`) and the features
# each reads: service times come with time windows, and one "fleet" group reads the whole fleet.
POLICY_GROUPS: dict[str, frozenset[Feature]] = {
    "time_windows": frozenset({Feature.TIME_WINDOWS, Feature.SERVICE_TIMES}),
    "backhauls": frozenset({Feature.BACKHAULS}),
    "open_routes": frozenset({Feature.OPEN_ROUTES}),
    "duration_limits": frozenset({Feature.DURATION_LIMITS}),
    "distance_limits": frozenset({Feature.DISTANCE_LIMITS}),
    "fleet": FLEET,
}


def parse(names: Iterable[str], where: str = "features") -> frozenset[Feature]:
    """Feature names (a checkpoint's JSON, a command line) as Features; ValueError naming an unknown one."""
    out = set()
    for name in names:
        try:
            out.add(Feature(name))
        except ValueError:
            raise ValueError(f"{where}: {name!r} is not a feature; features are {', '.join(FEATURES)}") from None
    return frozenset(out)
