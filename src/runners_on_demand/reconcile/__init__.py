"""The reconciler: compare what GitHub and Nomad show, and set it right.

- `settings.py`: the `[reconcile]` table.
- `model.py`: what the plan reads and says (Observation, ReconcilePolicy, MakeRunner, Retire).
- `units.py`: our runners joined with their Nomad children, and each one's state.
- `plan.py`: the pure plan (observation in, actions out) and its theory of operation.
- `stored.py`: which stored runner credentials to dispatch again, which Variables may go.
- `loop.py`: the I/O loop inside `rod serve` (observe, plan, act).
- `act.py`: carrying a plan's actions out (retire, dispatch, destroy spent credentials).
- `reads.py`: one tick's GitHub reads, a scope (repository or organization) at a time.
- `repos.py`: the served repositories; `heard.py`, `heard_variable.py`: those heard of, kept in
  the state Variable across restarts.
- `cli.py`: `rod reconcile --once [--dry-run]`; `describe.py`: what it prints.

What it observes (runners, Nomad children, queued jobs) is in `runners_on_demand.observed`.
"""
