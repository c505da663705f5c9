"""The bounds of an app definition: values no operator would ever need, past which a number or a size
is a mistake (or an attack) that would otherwise reach the store, the scheduler and the agents.

Submissions beyond them are refused with 422 at the field (engine.model.validation); README "Limits"
lists them. Marathon has no such bounds except its integer fields being Java ints (hence MAX_INT32 for
every count and duration of seconds).
"""

from __future__ import annotations

__all__ = [
    "MAX_BACKOFF_FACTOR",
    "MAX_CPUS",
    "MAX_DISK_MIB",
    "MAX_HEALTH_PATH_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_ID_SEGMENT_LENGTH",
    "MAX_INSTANCES",
    "MAX_INT32",
    "MAX_MAP_ENTRIES",
    "MAX_MAP_KEY_LENGTH",
    "MAX_MAP_TOTAL_LENGTH",
    "MAX_MAP_VALUE_LENGTH",
    "MAX_MEM_MIB",
    "MAX_PORTS",
    "MAX_SECONDS",
]

MAX_INSTANCES = 100_000
"""instances of one app."""

MAX_CPUS = 1_024
"""cpus of one task (also resourceLimits.cpus and executorResources.cpus)."""

MAX_MEM_MIB = 16 * 1024 * 1024
"""mem of one task, in MiB: 16 TiB (also resourceLimits.mem and executorResources.mem)."""

MAX_DISK_MIB = 16 * 1024 * 1024
"""disk of one task, in MiB: 16 TiB (also persistent volume sizes)."""

MAX_PORTS = 1_000
"""entries of portDefinitions, portMappings, ports or ipAddress.discovery.ports (an agent's whole default
host-port range is 1,000 ports)."""

MAX_ID_LENGTH = 255
"""characters of an app (or group) id, normalised (``/shop/web``)."""

MAX_ID_SEGMENT_LENGTH = 63
"""characters of one segment of an id (a DNS label's limit)."""

MAX_MAP_ENTRIES = 1_000
"""entries of labels or env (the app's, and the labels of each port and network)."""

MAX_MAP_KEY_LENGTH = 1_024
"""characters of one label key or env name."""

MAX_MAP_VALUE_LENGTH = 65_536
"""characters of one label or env value."""

MAX_MAP_TOTAL_LENGTH = 1_048_576
"""characters of all keys and values of one labels or env object together."""

MAX_INT32 = 2**31 - 1
"""Marathon's integer fields are Java ints."""

MAX_SECONDS = MAX_INT32
"""every duration in seconds (backoff, grace periods, intervals, timeouts): about 68 years."""

MAX_BACKOFF_FACTOR = 100
"""backoffFactor: the launch delay grows at most a hundredfold per failure."""

MAX_HEALTH_PATH_LENGTH = 2_048
"""characters of a health or readiness check's path (with its query)."""
