"""`rod hooks`: the `workflow_job` webhooks that feed `rod serve`, kept in order and watched.

- `plan.py`: what the hooks should be, and the pure plan (create, update, unchanged, not ours,
  prune) from what was listed.
- `api.py`: the GitHub calls, over the dispatcher's adapter (auth, pagination, conditional
  requests, rate limits).
- `sync.py`: read everything (bad input stops here, nothing changed), then write.
- `status.py`: recent deliveries per hook, and which ones the dispatcher never acknowledged.
- `cache.py`: the ETags kept between runs.
- `cli.py`: `rod hooks sync` and `rod hooks status`.
"""
