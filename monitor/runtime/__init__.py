"""What runs: the coordinator that polls every device, the pipeline that fans readings out,
the channel checks that qualify them, and the monitor's checks on itself."""
