"""The process around the domain: HTTP routes, composition, CLI, settings, logs."""
