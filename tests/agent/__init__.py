"""The remote agent (`pacer --serve` as an agent) and the `pacer` driver."""
