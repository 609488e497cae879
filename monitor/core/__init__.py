"""The vocabulary every part of coldwatch shares: readings and events, the clock, logging,
counters, durations and secrets. It imports nothing else from the project."""
