"""Launchers start a run somewhere: `local` (processes), `docker` (containers)."""
