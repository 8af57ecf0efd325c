"""runners-on-demand: ephemeral self-hosted GitHub Actions runners dispatched on Nomad."""

__version__ = "0.1.0"
