"""`python -m chaos.lazyfs.serve --mount DIR`: mount lazyfs over DIR, backed by DIR itself, until unmounted.

The backing directory is opened before the mount covers it, so DIR keeps its real contents underneath and
shows them again, with every change made durable, after a clean unmount (fusermount3 -u, or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from pathlib import Path

from chaos.lazyfs.control import serve_control
from chaos.lazyfs.filesystem import LazyFilesystem
from chaos.lazyfs.fuse_adapter import LazyOperations, mount

PRIORITY_NICE = -10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.lazyfs.serve", description=__doc__)
    parser.add_argument("--mount", type=Path, required=True, help="directory to mount over (and back with)")
    args = parser.parse_args(argv)
    mountpoint = args.mount.resolve()
    # Every write and fsync of the node waits for this process: on a busy machine its scheduling delay is
    # most of what lazyfs costs, so it runs ahead of ordinary processes, as a disk driver would (it uses
    # little CPU). Only root may raise a priority; elsewhere it runs at the normal one.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY_NICE)
    root_descriptor = os.open(mountpoint, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    filesystem = LazyFilesystem(root_descriptor)
    lock = threading.Lock()
    operations = LazyOperations(filesystem, lock)
    try:
        control = serve_control(filesystem, lock, mountpoint, operations.invalidate)
    except OSError as error:
        print(f"lazyfs: another lazyfs serves {mountpoint}? ({error})", file=sys.stderr)
        return 2
    print(f"lazyfs: mounting {mountpoint} (pid {os.getpid()})", flush=True)
    profile_path = os.environ.get("LAZYFS_PROFILE_DIR")
    try:
        if profile_path:  # for bench/lazyfs_bench.py --profile: where a mount spends its time
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(mount, operations, str(mountpoint))
            profiler.dump_stats(Path(profile_path) / f"lazyfs-{mountpoint.name}.prof")
        else:
            mount(operations, str(mountpoint))
    finally:
        control.close()
        os.close(root_descriptor)
    print(f"lazyfs: unmounted {mountpoint}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
