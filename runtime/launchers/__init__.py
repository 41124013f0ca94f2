"""What runs on the user's machine: a run as local processes (`local`) or as the containers
of its Pod (`docker`), and `launch`, which runs one and shows its events."""

from runtime.launchers._launch import Display, launch, make_launcher

__all__ = ["Display", "launch", "make_launcher"]
