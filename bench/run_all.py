"""`make bench`: every benchmark of the project, one after the other, each printing its own table."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.wal_bench", "bench.verify_bench", "bench.toxiproxy_bench", "bench.store_bench", "bench.data_plane_bench",
    "bench.transaction_bench", "bench.index_bench",
    "bench.log_replica_bench", "bench.dynalite_differential", "bench.growth_bench",
)


def main() -> int:
    failed = []
    for module in BENCHMARKS:
        print(f"\n## {module}\n", flush=True)
        if subprocess.run([sys.executable, "-m", module]).returncode != 0:
            failed.append(module)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
