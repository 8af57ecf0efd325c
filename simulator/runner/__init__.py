"""Fake Actions runner: what the Nomad runner task runs against the GitHub emulator."""
