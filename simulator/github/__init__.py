"""GitHub emulator: REST API, Actions job queue, signed webhook deliveries."""
