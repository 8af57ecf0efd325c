"""`rod listen`: the runner scale set intake, for a Nomad cluster GitHub cannot reach.

The listener only makes outbound calls. It speaks GitHub's runner scale set protocol (the
message queue behind actions-runner-controller and `actions/scaleset`), keeps as many runners as
the scale set's statistics ask for, and hands each one to the same pipeline `rod serve` uses:

    scope.py        the config URL: organization or repository, and the REST API base (pure)
    settings.py     the `[listen]` table (pure)
    protocol.py     the service's JSON: scale sets, sessions, messages, statistics (pure)
    errors.py       the service's errors, in the dispatcher's tree
    client.py       the protocol over httpx: auth chain, admin calls, message queue
    fleet.py        the runners of one scale set and how many to make or retire (pure)
    credentials.py  `RunnerCredentials` from the scale set's generatejitconfig
    loop.py         the long-poll loop: session, messages, acquire, scale, sweep
    service.py      the pieces wired together, `/healthz`, `/readyz`, `/metrics`
    cli.py          `rod listen`

Reference: ../shared/reference/scaleset-api.md ([S] = actions/scaleset, [A] = ARC).
"""
