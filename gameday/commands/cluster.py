"""`gameday cluster up|status|down`: run the store on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cluster.deploy.backends import BACKENDS, DEFAULT_BACKEND, UnknownBackendError, open_cluster
from cluster.deploy.local_processes import DEFAULT_DATA_DIR, ClusterError
from cluster.router.partition_cache import CACHE_MODES, DEFAULT_CACHE_MODE
from cluster.runtime.topology import TopologyError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="start, inspect and stop a cluster (local processes or Docker)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    common = add_cluster_arguments

    up = actions.add_parser("up", help="start the cluster in the background; prints JSON with the endpoints")
    common(up)
    up.add_argument("--azs", type=int, default=3, help="availability zones (default 3)")
    up.add_argument("--nodes-per-az", type=int, default=2, help="storage nodes per AZ (default 2)")
    up.add_argument("--partitions-per-table", type=int, default=4, help="partitions of each new table (default 4)")
    up.add_argument(
        "--proxy-links", action="store_true",
        help="put a Toxiproxy proxy in front of every link chaos may cut (the project's own server)",
    )
    up.add_argument("--toxiproxy", metavar="URL", help="use the Toxiproxy 2.x server at URL for the links")
    up.add_argument("--wait", type=float, default=60.0, help="seconds to wait until it serves (default 60)")
    # The store's switches, as a scenario's [cluster] section sets them; given ones stick to this cluster.
    up.add_argument(
        "--snapshot-every-entries", type=int, metavar="N",
        help="replicas snapshot their state and compact their logs every N applied entries (0: never; default 10000)",
    )
    up.add_argument("--scrub", action=argparse.BooleanOptionalAction, help="the background scrub (default on)")
    up.add_argument(
        "--log-replicas", action=argparse.BooleanOptionalAction,
        help="log replicas stand in for a lost replica (default on)",
    )
    up.add_argument(
        "--router-cache", choices=CACHE_MODES,
        help=f"how routers learn partition leaders (default {DEFAULT_CACHE_MODE})",
    )
    up.set_defaults(handler=_up)

    status = actions.add_parser("status", help="print JSON with every process: role, AZ, pid, up/down, leaders")
    common(status)
    status.set_defaults(handler=_status)

    down = actions.add_parser("down", help="stop every process that `up` started (data stays)")
    common(down)
    down.set_defaults(handler=_down)


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-dir and --backend: which cluster a command talks to (shared by every command that needs one)."""
    parser.add_argument(
        "--data-dir", type=str, default=str(DEFAULT_DATA_DIR),
        help=f"where the cluster keeps its topology, data and logs (default: {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--backend", choices=sorted(BACKENDS), default=DEFAULT_BACKEND,
        help="where the processes run: local OS processes or Docker containers (default: local)",
    )


def _print(payload: object) -> None:
    print(json.dumps(payload, indent=2))


def _up(args: argparse.Namespace) -> int:
    try:
        cluster = open_cluster(args.backend, Path(args.data_dir))
        _print(
            cluster.up(
                azs=args.azs,
                nodes_per_az=args.nodes_per_az,
                partitions_per_table=args.partitions_per_table,
                wait_s=args.wait,
                toxiproxy=args.toxiproxy,
                proxy_links=args.proxy_links,
                settings=_store_settings(args),
            )
        )
    except (ClusterError, TopologyError, UnknownBackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        cluster.down()
        print("interrupted: stopped what had started", file=sys.stderr)
        return 2
    return 0


def _store_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Only the switches given: an `up` of an existing cluster keeps the others as they were."""
    given = {
        "snapshot_every_entries": args.snapshot_every_entries,
        "scrub_enabled": args.scrub,
        "log_replicas_enabled": args.log_replicas,
        "router_cache_mode": args.router_cache,
    }
    return {name: value for name, value in given.items() if value is not None}


def _status(args: argparse.Namespace) -> int:
    try:
        _print(open_cluster(args.backend, Path(args.data_dir)).status())
    except (ClusterError, TopologyError, UnknownBackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _down(args: argparse.Namespace) -> int:
    try:
        stopped = open_cluster(args.backend, Path(args.data_dir)).down()
    except (ClusterError, TopologyError, UnknownBackendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print({"stopped": stopped})
    return 0
