"""Autoscaling: the policy labels, the pure decision (with properties), and reading docker stats."""

from __future__ import annotations

import math
from typing import Any, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import AppValidationError
from engine.autoscale import Decision, Sample, cpu_percent, decide, memory_percent
from engine.model import app_from_json, app_to_json, parse_app
from engine.model.autoscale_labels import AutoscalePolicy, parse_policy, policy_errors, policy_of

P = "pacer.autoscale."


def labels(**kw: str) -> dict[str, str]:
    base = {"metric": "cpu", "target": "50", "min": "1", "max": "4"}
    base.update(kw)
    return {P + k: v for k, v in base.items() if v != "-"}


def policy(**kw: Any) -> AutoscalePolicy:
    base: dict[str, Any] = {"metric": "cpu", "target": 50.0, "min": 1, "max": 5, "step": 1, "cooldown": 10.0,
                            "window": 4.0, "interval": 1.0, "tolerance": 0.1}
    base.update(kw)
    return AutoscalePolicy(**base)


def series(values: Sequence[float], start: float = 0.0, every: float = 1.0) -> list[Sample]:
    return [Sample(start + i * every, v, 1) for i, v in enumerate(values)]


# -- policy labels -----------------------------------------------------------------------------


def test_no_labels_no_policy() -> None:
    assert parse_policy({"other": "x"}) is None
    assert policy_errors({"other": "x"}) == []


def test_defaults_and_parsing() -> None:
    p = parse_policy(labels(target="60%", metric="Memory"))
    assert p == AutoscalePolicy("memory", 60.0, 1, 4, step=1, cooldown=60.0, window=30.0, interval=10.0,
                                tolerance=0.1, enabled=True)
    q = parse_policy(labels(step="2", cooldown="5", window="4", interval="1.5", tolerance="0", enabled="false"))
    assert q is not None and (q.step, q.cooldown, q.window, q.interval, q.tolerance, q.enabled) == (2, 5, 4, 1.5, 0, False)
    assert parse_policy(q.to_labels()) == q


@pytest.mark.parametrize(
    ("bad", "path", "text"),
    [
        ({"target": "lots"}, "/labels/pacer.autoscale.target", "must be a number"),
        ({"target": "0"}, "/labels/pacer.autoscale.target", "above 0 and at most 100"),
        ({"target": "150"}, "/labels/pacer.autoscale.target", "at most 100"),
        ({"metric": "rps"}, "/labels/pacer.autoscale.metric", "cpu, memory"),
        ({"min": "0"}, "/labels/pacer.autoscale.min", "nothing to measure"),
        ({"min": "1.5"}, "/labels/pacer.autoscale.min", "whole number"),
        ({"min": "5", "max": "2"}, "/labels/pacer.autoscale.max", "must be >= pacer.autoscale.min (5)"),
        ({"step": "0"}, "/labels/pacer.autoscale.step", "between 1"),
        ({"cooldown": "-1"}, "/labels/pacer.autoscale.cooldown", "between 0 and 86400"),
        ({"interval": "0"}, "/labels/pacer.autoscale.interval", "between 0.1 and 3600"),
        ({"tolerance": "1"}, "/labels/pacer.autoscale.tolerance", "below 1"),
        ({"enabled": "yes"}, "/labels/pacer.autoscale.enabled", "true or false"),
        ({"max": "-"}, "/labels/pacer.autoscale.max", "is required"),
        ({"targt": "50"}, "/labels/pacer.autoscale.targt", "did you mean pacer.autoscale.target?"),
    ],
)
def test_bad_labels_name_their_path(bad: dict[str, str], path: str, text: str) -> None:
    errors = policy_errors(labels(**bad))
    assert [e.path for e in errors] == [path], errors
    assert text in errors[0].message
    with pytest.raises(AppValidationError):
        parse_policy(labels(**bad))


def test_app_submission_refuses_a_bad_policy_with_every_error() -> None:
    body = {"id": "/web", "cmd": "sleep 1", "cpus": 0.1, "mem": 32, "instances": -1,
            "labels": labels(target="x", max="-")}
    with pytest.raises(AppValidationError) as info:
        parse_app(body, default_image="busybox:latest")
    paths = [e.path for e in info.value.errors]
    assert "/instances" in paths
    assert "/labels/pacer.autoscale.target" in paths and "/labels/pacer.autoscale.max" in paths


def test_policy_round_trips_as_labels_and_stored_apps_load_anyway() -> None:
    body = {"id": "/web", "cmd": "sleep 1", "cpus": 0.1, "mem": 32, "labels": labels(window="4")}
    app = parse_app(body, default_image="busybox:latest")
    again = parse_app(app_to_json(app), default_image="busybox:latest")
    assert again == app and policy_of(again.labels) == parse_policy(labels(window="4"))
    # A stored app is never refused for its labels (a rule added later must not break a restart).
    stored = app_to_json(app)
    stored["labels"] = labels(target="nope")
    loaded = app_from_json(stored)
    assert policy_of(loaded.labels) is None


# -- decide: examples --------------------------------------------------------------------------


def test_scales_up_only_after_the_whole_window_is_above() -> None:
    p = policy()
    high = series([90, 90, 90, 90, 90])  # t = 0..4
    assert decide(p, high[:4], 1, None, 3.0).new_instances is None  # 3 s observed of 4
    d = decide(p, high, 1, None, 4.0)
    assert d.new_instances == 2 and d.measured == 90 and "target 50%" in d.reason
    dip = series([90, 90, 40, 90, 90])
    assert decide(p, dip, 1, None, 4.0).new_instances is None


def test_step_limits_and_bounds() -> None:
    assert decide(policy(step=1), series([100] * 6), 1, None, 5.0).new_instances == 2
    assert decide(policy(step=3), series([100] * 6), 1, None, 5.0).new_instances == 2  # ceil(1 * 100 / 50)
    assert decide(policy(step=3), series([100] * 6), 2, None, 5.0).new_instances == 4
    assert decide(policy(step=9, max=3), series([100] * 6), 2, None, 5.0).new_instances == 3
    assert decide(policy(max=3), series([100] * 6), 3, None, 5.0) == Decision(None, "at max 3", 100)
    assert decide(policy(min=2), series([1] * 6), 2, None, 5.0).reason == "at min 2"
    assert decide(policy(min=2), series([50] * 6), 1, None, 5.0).new_instances == 2
    assert decide(policy(max=3), series([50] * 6), 7, None, 5.0).new_instances == 3


def test_scale_down_keeps_projected_use_under_target() -> None:
    p = policy(step=5)
    assert decide(p, series([30] * 6), 4, None, 5.0).new_instances == 3  # ceil(4 * 30 / 50) = 3
    assert decide(p, series([40] * 6), 2, None, 5.0).reason == "fewer instances would exceed the target"
    assert decide(p, series([2] * 6), 4, None, 5.0).new_instances == 1


def test_cooldown_and_samples_before_the_change_do_not_count() -> None:
    p = policy(cooldown=10, window=4)
    samples = series([90] * 30)
    assert decide(p, samples, 2, 5.0, 14.0).reason.startswith("cooldown")
    assert decide(p, samples, 2, 5.0, 15.0).new_instances == 3
    # a window longer than the cooldown: only samples from the change at 15 on count, observed from 19 on
    q = policy(cooldown=2, window=4)
    assert decide(q, samples, 2, 15.0, 17.0).reason == "stabilising: 2 of 4 s observed"
    assert decide(q, samples, 2, 15.0, 19.0).new_instances == 3


def test_disabled_policy_decides_nothing() -> None:
    assert decide(policy(enabled=False), series([100] * 10), 1, None, 9.0).reason == "disabled"


# -- decide: properties ------------------------------------------------------------------------

policies = st.builds(
    AutoscalePolicy,
    metric=st.sampled_from(["cpu", "memory"]),
    target=st.floats(5, 100),
    min=st.integers(1, 5),
    max=st.integers(5, 20),
    step=st.integers(1, 4),
    cooldown=st.floats(0, 30),
    window=st.floats(0, 20),
    interval=st.floats(0.5, 5),
    tolerance=st.floats(0, 0.5),
)


@settings(max_examples=400, deadline=None)
@given(p=policies, values=st.lists(st.floats(0, 100), max_size=30), current=st.integers(0, 30),
       last=st.none() | st.floats(0, 60), now=st.floats(0, 80))
def test_decisions_stay_within_bounds_and_steps(p: AutoscalePolicy, values: list[float], current: int,
                                                last: float | None, now: float) -> None:
    d = decide(p, series(values, every=p.interval), current, last, now)
    if last is not None and now - last < p.cooldown - 1e-6:
        assert d.new_instances is None
    if d.new_instances is None:
        return
    assert p.min <= d.new_instances <= p.max
    assert d.new_instances != current
    if p.min <= current <= p.max:
        assert abs(d.new_instances - current) <= p.step


@settings(max_examples=200, deadline=None)
@given(p=policies, noise=st.lists(st.floats(-1, 1), min_size=1, max_size=60), current=st.integers(1, 20))
def test_no_change_while_the_signal_stays_within_tolerance(p: AutoscalePolicy, noise: list[float],
                                                           current: int) -> None:
    current = min(max(current, p.min), p.max)
    values = [p.target * (1 + 0.999 * p.tolerance * n) for n in noise]
    for i in range(len(values)):
        d = decide(p, series(values[: i + 1], every=p.interval), current, None, i * p.interval)
        assert d.new_instances is None, (d, values[: i + 1])


def simulate(p: AutoscalePolicy, demand: float, start: int, seconds: float) -> list[tuple[float, int, int]]:
    """Closed loop: per-task use is demand / instances (capped at 100 %); returns (time, from, to)."""
    n, t, last, samples, changes = start, 0.0, None, [], []
    while t <= seconds:
        samples.append(Sample(t, min(100.0, demand / n), n))
        samples = [s for s in samples if s.at >= t - p.window - 2 * p.interval]
        d = decide(p, samples, n, last, t)
        if d.new_instances is not None:
            changes.append((t, n, d.new_instances))
            n, last, samples = d.new_instances, t, []
        t += p.interval
    return changes


@settings(max_examples=300, deadline=None)
@given(p=policies, demand=st.floats(0, 2000), start=st.integers(1, 20))
def test_closed_loop_converges_without_flapping(p: AutoscalePolicy, demand: float, start: int) -> None:
    start = min(max(start, p.min), p.max)
    rounds = p.max + 3  # saturated (capped at 100 %) changes may be smaller than a step
    changes = simulate(p, demand, start, rounds * (p.cooldown + p.window + 2 * p.interval + 1))
    directions = {to > frm for _, frm, to in changes}
    assert len(directions) <= 1, f"flapped: {changes}"
    for (t1, _, _), (t2, _, _) in zip(changes, changes[1:]):
        assert t2 - t1 >= p.cooldown - 1e-6
    final = changes[-1][2] if changes else start
    assert p.min <= final <= p.max
    assert len(changes) <= abs(final - start)
    if demand / min(start, final) <= 100:  # unsaturated: every change moves a full step but the last
        assert len(changes) <= math.ceil(abs(final - start) / p.step)
    # at rest: not above the band unless at max
    if final < p.max:
        assert min(100.0, demand / final) <= p.upper + 1e-6
    # and not below it unless at min or one fewer would go above the target
    if final > p.min:
        assert demand / final >= p.lower - 1e-6 or math.ceil(demand / p.target - 1e-9) >= final


def test_noisy_signal_crossing_the_band_does_not_flap() -> None:
    p = policy(window=4, cooldown=5)
    values = [70 if i % 3 == 0 else 48 for i in range(200)]
    samples = series(values)
    assert all(decide(p, samples[: i + 1], 2, None, float(i)).new_instances is None for i in range(200))


# -- docker stats ------------------------------------------------------------------------------


def docker_stats(total: int, system: int, pre_total: int, pre_system: int, online: int = 2) -> dict[str, Any]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": online},
        "precpu_stats": {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system,
                         "online_cpus": online},
        "memory_stats": {"usage": 60 * 2**20, "limit": 128 * 2**20, "stats": {"inactive_file": 4 * 2**20}},
    }


def test_cpu_percent_from_docker_counters() -> None:
    # 0.1 core used over 1 s on a 2-cpu host (system counter grows 2e9 ns a second)
    s = docker_stats(1_100_000_000, 10_000_000_000, 1_000_000_000, 8_000_000_000)
    assert cpu_percent(s, 0.1) == pytest.approx(100.0)
    assert cpu_percent(s, 0.2) == pytest.approx(50.0)
    # from our own previous reading: 0.05 core over 5 s
    assert cpu_percent(s, 0.1, (850_000_000, 0.0, 2)) == pytest.approx(2.5e8 / 1e10 * 2 / 0.1 * 100)
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}, 0.1) is None
    first = docker_stats(5, 10, 0, 0)
    first["precpu_stats"] = {"cpu_usage": {"total_usage": 0}}  # docker's first sample: no system counter
    assert cpu_percent(first, 0.1) is None


def test_memory_percent_of_the_app_limit_without_cache() -> None:
    s = docker_stats(0, 0, 0, 0)
    assert memory_percent(s, 128) == pytest.approx(56 / 128 * 100)
    assert memory_percent(s, 0) == pytest.approx(56 / 128 * 100)
    s["memory_stats"]["stats"] = {"total_inactive_file": 0}  # cgroup v1
    assert memory_percent(s, 64) == pytest.approx(60 / 64 * 100)
    assert memory_percent({"memory_stats": {}}, 64) is None
