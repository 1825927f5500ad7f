"""Stochastic travel times in the style of SVRPBench (Heakl et al. 2025): rush hours, noise, accidents.

The realised time of arc (i, j) left at time t (the instance's clock, the same
as its time windows) is

    duration[i, j] * c(t) * N + A,

- c(t) = 1 + sum_k a_k exp(-(t - time_k)^2 / (2 width_k^2)): congestion by time of day;
- N = exp(sigma Z - sigma^2 / 2), Z standard normal: log-normal noise of mean one,
  so noise alone leaves the expected time unchanged;
- A: with probability `accident_rate` an accident adds an exponential delay of
  mean `accident_delay`, otherwise 0.

A simplification of SVRPBench's model (there, congestion also grows with arc length and
accidents are likelier at night). Arcs of zero duration (a node to itself, co-located nodes) stay zero. Solvers
are deterministic: they receive `planning_instance(instance, q)`, whose duration
matrix is the expected matrix or a buffered q-quantile matrix; `envs.model.robust`
then measures how their routes fare under the model itself.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from envs.errors import InstanceError

if TYPE_CHECKING:  # instance.py imports this module; importing it back here would be a cycle
    from envs.model.instance import Instance

DEFAULT_DAY = 1440.0  # horizon for instances without any finite window: one day in minutes
# The largest magnitude of any number in an instance (envs.model.instance explains the choice and imports it from here,
# since that module imports this one). Peak times and widths and the accident delay obey it too.
MAX_MAGNITUDE = 1e15
# Bounds on the parameters whose derived quantities overflow, or mean nothing, long before MAX_MAGNITUDE:
# - noise_sigma: N = exp(sigma Z - sigma^2 / 2) has variance exp(sigma^2) - 1, which overflows float64 at
#   sigma ~ 26.6 (sigma^2 itself overflows at 1.3e154: the expected cost became NaN); at 10 the median N is
#   exp(-50) of the mean already (SVRPBench uses 0.1-0.5), so 10 is the ceiling;
# - a peak's width is squared (width^2 must neither underflow to 0 nor overflow): between 1e-6 and MAX_MAGNITUDE.
# A peak's amplitude multiplies durations by up to 1 + amplitude: it obeys MAX_MAGNITUDE, so sampled times stay
# finite; planning matrices past MAX_MAGNITUDE are refused by `planning_instance`, naming the model.
MAX_NOISE_SIGMA = 10.0
MAX_AMPLITUDE = MAX_MAGNITUDE
MIN_WIDTH = 1e-6
_PEAK_KEYS = ("time", "width", "amplitude")
_MODEL_KEYS = ("peaks", "noise_sigma", "accident_rate", "accident_delay")


@dataclass(frozen=True)
class Peak:
    """One rush hour: a Gaussian bump of height `amplitude` centred at `time` with std `width`."""

    time: float
    width: float
    amplitude: float

    def __post_init__(self) -> None:
        _check_peak(self.time, self.width, self.amplitude, "peak")


@dataclass(frozen=True)
class TravelModel:
    """Parameters of the stochastic travel times; the defaults give deterministic times."""

    peaks: tuple[Peak, ...] = ()
    noise_sigma: float = 0.0
    accident_rate: float = 0.0
    accident_delay: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "peaks", tuple(self.peaks))
        for k, p in enumerate(self.peaks):
            if not isinstance(p, Peak):
                raise InstanceError(f"travel_model.peaks[{k}] must be a Peak, got {type(p).__name__}")
        _check_scalars(self.noise_sigma, self.accident_rate, self.accident_delay, "travel_model")

    # ------------------------------------------------------------ dict form
    @classmethod
    def from_dict(cls, d: Any, where: str = "travel_model") -> TravelModel:
        """Parse the JSON form; anything wrong is a one-line InstanceError naming the parameter."""
        if isinstance(d, TravelModel):
            return d
        if not isinstance(d, dict):
            raise InstanceError(f"{where} must be an object, got {type(d).__name__}")
        _no_unknown_keys(d, _MODEL_KEYS, where)
        peaks_raw = d.get("peaks", [])
        if not isinstance(peaks_raw, list | tuple):
            raise InstanceError(f"{where}.peaks must be an array, got {type(peaks_raw).__name__}")
        peaks = []
        for k, p in enumerate(peaks_raw):
            at = f"{where}.peaks[{k}]"
            if not isinstance(p, dict):
                raise InstanceError(f"{at} must be an object, got {type(p).__name__}")
            _no_unknown_keys(p, _PEAK_KEYS, at)
            missing = [key for key in _PEAK_KEYS if key not in p]
            if missing:
                raise InstanceError(f"{at}.{missing[0]} is missing")
            _check_peak(p["time"], p["width"], p["amplitude"], at)
            peaks.append(Peak(float(p["time"]), float(p["width"]), float(p["amplitude"])))
        sigma, rate, delay = (d.get(key, 0.0) for key in _MODEL_KEYS[1:])
        _check_scalars(sigma, rate, delay, where)
        return cls(tuple(peaks), float(sigma), float(rate), float(delay))

    def to_dict(self) -> dict:
        """The JSON form (plain floats), read back by from_dict."""
        return {
            "peaks": [{"time": p.time, "width": p.width, "amplitude": p.amplitude} for p in self.peaks],
            "noise_sigma": self.noise_sigma,
            "accident_rate": self.accident_rate,
            "accident_delay": self.accident_delay,
        }

    # ------------------------------------------------------------ sampling
    def congestion(self, t: np.ndarray | float) -> np.ndarray:
        """c(t), elementwise over departure times."""
        t = np.asarray(t, dtype=np.float64)
        c = np.ones_like(t)
        for p in self.peaks:
            c = c + p.amplitude * np.exp(-((t - p.time) ** 2) / (2.0 * p.width**2))
        return c

    def sample_times(self, base: np.ndarray, depart: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Realised travel times for base durations and departure times (broadcast together), one draw each."""
        base, depart = np.broadcast_arrays(np.asarray(base, dtype=np.float64), np.asarray(depart, dtype=np.float64))
        t = base * self.congestion(depart)
        if self.noise_sigma > 0:
            s = self.noise_sigma
            t = t * np.exp(s * rng.standard_normal(base.shape) - 0.5 * s * s)
        if self.accident_rate > 0 and self.accident_delay > 0:
            hit = (rng.random(base.shape) < self.accident_rate) & (base > 0)
            t = t + np.where(hit, rng.exponential(self.accident_delay, base.shape), 0.0)
        return t

    # ------------------------------------------------------------ planning matrices
    def mean_congestion(self, start: float, end: float) -> float:
        """E[c(t)] for t uniform on [start, end] (the Gaussian integral in closed form)."""
        if end <= start:
            return float(self.congestion(start))
        total = 1.0
        for p in self.peaks:
            s = p.width * math.sqrt(2.0)
            area = p.width * math.sqrt(math.pi / 2.0) * (math.erf((end - p.time) / s) - math.erf((start - p.time) / s))
            total += p.amplitude * area / (end - start)
        return total

    def max_congestion(self, start: float, end: float) -> float:
        """max of c(t) over [start, end], on a fine grid that includes every peak inside it."""
        if not self.peaks:
            return 1.0
        step = min(p.width for p in self.peaks) / 200.0
        num = int(min(200_001, max(2, math.ceil((end - start) / step) + 1)))
        grid = np.concatenate([np.linspace(start, end, num), [p.time for p in self.peaks if start <= p.time <= end]])
        return float(self.congestion(grid).max())

    def expected_duration(self, instance: Instance) -> np.ndarray:
        """The expected time of each arc over departures spread uniformly over the horizon (see `horizon`)."""
        base = instance.duration
        start, end = horizon(instance)
        out = base * self.mean_congestion(start, end)
        return out + np.where(base > 0, self.accident_rate * self.accident_delay, 0.0)

    def quantile_duration(self, instance: Instance, q: float) -> np.ndarray:
        """The q-quantile of each arc's time at the worst congestion of the horizon: a buffered planning matrix.

        Exact in closed form without accidents, or without noise; with both, the
        quantile of the log-normal plus accident mixture is solved numerically
        (deterministic quadrature and bisection) on a grid of delay-to-time ratios.
        """
        return self.quantile_times(instance.duration, q, *horizon(instance))

    def quantile_times(self, base: np.ndarray, q: float, start: float, end: float) -> np.ndarray:
        """quantile_duration for any array of nominal times departing within [start, end]."""
        if not (isinstance(q, int | float) and 0.0 < q < 1.0):
            raise InstanceError(f"the planning quantile must be a number strictly between 0 and 1, got {q!r}")
        base = np.asarray(base, dtype=np.float64)
        scaled = base * self.max_congestion(start, end)
        sigma, rate, delay = self.noise_sigma, self.accident_rate, self.accident_delay
        z = NormalDist().inv_cdf(q)
        noise_q = math.exp(sigma * z - 0.5 * sigma * sigma)
        if rate == 0 or delay == 0:
            return scaled * noise_q
        # P(accident delay <= x) = 1 - rate * exp(-x / delay) for x >= 0.
        accident_q = delay * math.log(rate / (1.0 - q)) if q > 1.0 - rate else 0.0
        if sigma == 0:
            return np.where(base > 0, scaled + accident_q, 0.0)
        out = np.zeros_like(base)
        pos = scaled > 0
        ratio = delay / scaled[pos]  # the normalised time is N + ratio * (accident in units of its mean)
        out[pos] = scaled[pos] * _mixture_quantile(ratio, sigma, rate, q)
        return out


def horizon(instance: Instance) -> tuple[float, float]:
    """The span over which routes depart: the depot's window, or up to the latest finite window close
    (else a day) when the depot's window is open-ended."""
    tw = instance.time_windows
    start, end = float(tw[0, 0]), float(tw[0, 1])
    if math.isfinite(end):
        return start, end
    closes = tw[:, 1][np.isfinite(tw[:, 1])]
    end = float(closes.max()) if closes.size else start + DEFAULT_DAY
    return start, end if end > start else start + DEFAULT_DAY


def planning_instance(instance: Instance, q: float | None = None) -> Instance:
    """A deterministic copy for the solvers: the expected duration matrix (q None) or the q-quantile matrix.

    An instance without a travel model comes back as an unchanged copy, so callers need not check.
    """
    model = instance.travel_model
    if model is None:
        duration = instance.duration.copy()
    elif q is None:
        duration = model.expected_duration(instance)
    else:
        duration = model.quantile_duration(instance, q)
    # A deep copy, so that editing the planning copy (its windows, its fleet) never edits the original.
    try:
        return replace(copy.deepcopy(instance), duration=duration, travel_model=None)
    except InstanceError as err:  # the model's slow-downs took a duration past what an instance may hold
        what = "expected" if q is None else f"{q:g}-quantile"
        raise InstanceError(f"{instance.name}: the travel model's {what} durations: {err}") from None


# ---------------------------------------------------------------- helpers
_QUAD = 256  # quadrature nodes over the accident delay
_RATIO_GRID = 384  # grid of delay ratios interpolated when arcs have more distinct ratios than this
_ERFC_COEFS = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def _mixture_quantile(ratio: np.ndarray, sigma: float, rate: float, q: float) -> np.ndarray:
    """q-quantile of N + r * B * E (N mean-one log-normal, B Bernoulli(rate), E unit exponential) for each r."""
    uniq = np.unique(ratio)
    grid = uniq if uniq.size <= _RATIO_GRID else np.geomspace(uniq[0], uniq[-1], _RATIO_GRID)
    # Midpoint rule in u = 1 - exp(-e): equal-probability delays, smooth enough for the CDF below.
    e = -np.log1p(-(np.arange(_QUAD) + 0.5) / _QUAD)
    z = NormalDist().inv_cdf(q)
    lo = np.full(grid.shape, math.exp(sigma * z - 0.5 * sigma * sigma))  # no accident: a lower bound
    # Union bound: the sum's q-quantile is at most the sum of both parts' (1+q)/2-quantiles.
    half = (1.0 + q) / 2.0
    hi = math.exp(sigma * NormalDist().inv_cdf(half) - 0.5 * sigma * sigma) + grid * math.log(2.0 / (1.0 - q))

    def cdf(y: np.ndarray) -> np.ndarray:
        shifted = y[:, None] - grid[:, None] * e[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            hit = np.where(shifted > 0, _lognormal_cdf(np.maximum(shifted, 1e-300), sigma), 0.0).mean(axis=1)
        return (1.0 - rate) * _lognormal_cdf(y, sigma) + rate * hit

    for _ in range(40):  # relative precision about 1e-12
        mid = 0.5 * (lo + hi)
        below = cdf(mid) < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    values = 0.5 * (lo + hi)
    if grid is uniq:
        return values[np.searchsorted(uniq, ratio)]
    return np.interp(np.log(ratio), np.log(grid), values)


def _lognormal_cdf(y: np.ndarray, sigma: float) -> np.ndarray:
    """P(N <= y) for the mean-one log-normal N, y > 0."""
    return _normal_cdf((np.log(y) + 0.5 * sigma * sigma) / sigma)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF from Numerical Recipes' erfcc (Chebyshev fit, fractional error < 1.2e-7).

    numpy has no erf, and scipy is not a dependency of the project.
    """
    a = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * a)
    poly = np.zeros_like(t)
    for coef in _ERFC_COEFS:  # Horner, highest order first
        poly = coef + t * poly
    poly = -a * a + poly
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _no_unknown_keys(d: dict, known: tuple[str, ...], where: str) -> None:
    extra = [k for k in d if k not in known]
    if extra:
        raise InstanceError(f"{where} has unknown parameter {extra[0]!r} (known: {', '.join(known)})")


def _number(value: Any, name: str, what: str, ok) -> None:
    """Refuse a non-number (booleans included), NaN, infinity or a value outside `ok`."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InstanceError(f"{name} must be {what}, got {value!r}")
    if not (math.isfinite(value) and ok(value)):
        raise InstanceError(f"{name} must be {what}, got {value!r}")


def _check_peak(time: Any, width: Any, amplitude: Any, where: str) -> None:
    _number(time, f"{where}.time", "a finite number", lambda v: True)
    _number(width, f"{where}.width", "a finite number > 0", lambda v: v > 0)
    _number(amplitude, f"{where}.amplitude", "a finite number >= 0", lambda v: v >= 0)
    _at_most(abs(time), MAX_MAGNITUDE, f"{where}.time", time, "in magnitude")
    _at_most(width, MAX_MAGNITUDE, f"{where}.width", width)
    if width < MIN_WIDTH:
        raise InstanceError(f"{where}.width must be at least {MIN_WIDTH:g} (it is squared), got {width!r}")
    _at_most(amplitude, MAX_AMPLITUDE, f"{where}.amplitude", amplitude, "(a slow-down of 1 + amplitude)")


def _check_scalars(sigma: Any, rate: Any, delay: Any, where: str) -> None:
    _number(sigma, f"{where}.noise_sigma", "a finite number >= 0", lambda v: v >= 0)
    _number(rate, f"{where}.accident_rate", "a finite number in [0, 1]", lambda v: 0 <= v <= 1)
    _number(delay, f"{where}.accident_delay", "a finite number >= 0", lambda v: v >= 0)
    why = "(beyond it the log-normal noise's variance exp(sigma^2) - 1 is meaningless or overflows)"
    _at_most(sigma, MAX_NOISE_SIGMA, f"{where}.noise_sigma", sigma, why)
    _at_most(delay, MAX_MAGNITUDE, f"{where}.accident_delay", delay)


def _at_most(value: float, limit: float, name: str, shown: Any, why: str = "") -> None:
    if value > limit:
        raise InstanceError(f"{name} must be at most {limit:g}{' ' + why if why else ''}, got {shown!r}")
