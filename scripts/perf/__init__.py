"""Parts of scripts/bench_perf.py: deliveries, stand-ins, servers, load clients, the paced burst."""
