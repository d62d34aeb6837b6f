"""The engine: plan a project against what runs, execute the plan along the dependency graph,
keep the project's state on disk, and emit events for the renderers (orchestrator/ui)."""
