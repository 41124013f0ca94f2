"""The agent side: run spec, loop, model adapters, skill client, launchers, CLI."""
