"""300 clients that never read /v2/events, while apps of ~200 KB are updated: the server's memory and /ping.

The server is `pacer --serve --demo` in its own process (bench/sse_memory.py runs the scenario), so the
RSS measured is the server's. The goals: RSS under 300 MB above the baseline taken in the same run
before the clients connect, /ping p99 under 100 ms during the run; after the clients leave, every
stream closed and RSS back within 50 MB of the baseline (measured: 57 MB above at the peak, 30 MB
after). The asserted bounds are wider where timing is involved (the machine is shared),
but far below what the code before this test did: 1.5 GB above the baseline, /ping p99 2.2 s (up to
16 s), 8 s of the server's CPU for what costs 0.7 s without clients, 5 GB kept and streams never
closed after the clients left.
"""

from __future__ import annotations

import pytest

from bench.sse_memory import run

CLIENTS = 300


@pytest.mark.timeout(300)
def test_non_reading_clients_leave_memory_and_latency_bounded() -> None:
    r = run(clients=CLIENTS, apps=4, app_kb=200, updates=40, abort_rss_mb=2500)
    print(f"\n{CLIENTS} non-reading clients, {r['updates']} updates of {r['apps']} apps of "
          f"{r['app_definition_bytes'] // 1000} KB; baseline RSS {r['baseline_rss_mb']:.0f} MB")
    for phase in ("idle", "loaded"):
        print(f"  {phase:6}: RSS +{r[f'{phase}_rss_above_mb']:.0f} MB, /ping p50 {r[f'{phase}_ping_p50_ms']:.0f} ms "
              f"p99 {r[f'{phase}_ping_p99_ms']:.0f} ms max {r[f'{phase}_ping_max_ms']:.0f} ms "
              f"({r[f'{phase}_pings']} pings), server CPU {r[f'{phase}_server_cpu_s']:.2f} s")
    print(f"  after the clients closed: {r['streams_after_close']} streams open, "
          f"RSS +{r['after_close_rss_above_mb']:.0f} MB")
    assert r["app_definition_bytes"] > 200_000
    assert not r["aborted"], "the server went past 2.5 GB of RSS"
    assert r["loaded_updates_done"] == r["updates"]
    assert r["loaded_rss_above_mb"] < 300, "RSS above the baseline with the clients connected"
    assert r["loaded_ping_p99_ms"] < 500, "/ping p99 during the run (goal: 100 ms)"
    assert r["loaded_ping_errors"] == 0
    assert r["loaded_server_cpu_s"] - r["idle_server_cpu_s"] < 3.0, "CPU the streams cost the server"
    assert r["streams_after_close"] == 0, "every stream ended after its client left"
    assert r["after_close_rss_above_mb"] < 50, "memory given back once the clients left (57 MB kept without)"
