"""Faithful emulators of GitHub and Nomad, and a fake Actions runner, for tests and the demo."""
