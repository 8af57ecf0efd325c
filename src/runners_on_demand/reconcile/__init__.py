"""The reconciler: compare what GitHub and Nomad show, and set it right.

- `settings.py`: the `[reconcile]` table.
- `plan.py`: the pure plan (observation in, actions out) and its theory of operation.
- `loop.py`: the I/O loop inside `rod serve` (observe, plan, act), and the served repositories.
- `cli.py`: `rod reconcile --once [--dry-run]`.

What it observes (runners, Nomad children, queued jobs) is in `runners_on_demand.observed`.
"""
