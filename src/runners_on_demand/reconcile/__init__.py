"""The reconciler: compare what GitHub and Nomad show, and set it right.

- `settings.py`: the `[reconcile]` table.
- `model.py`: what the plan reads and says (Observation, ReconcilePolicy, MakeRunner, Retire).
- `units.py`: our runners joined with their Nomad children, and each one's state.
- `plan.py`: the pure plan (observation in, actions out) and its theory of operation.
- `stored.py`: which stored runner credentials to dispatch again, which Variables may go.
- `loop.py`: the I/O loop inside `rod serve` (observe, plan, act).
- `reads.py`: one tick's GitHub reads, a scope (repository or organization) at a time.
- `repos.py`: the served repositories.
- `cli.py`: `rod reconcile --once [--dry-run]`.

What it observes (runners, Nomad children, queued jobs) is in `runners_on_demand.observed`.
"""
