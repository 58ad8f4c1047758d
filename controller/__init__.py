"""The controller: FarmService, the farm state, the scheduler, DuckDB and the agent links."""
