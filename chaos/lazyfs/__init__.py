"""lazyfs: a FUSE file system that loses what was not fsynced when the harness cuts the power.

Like Jepsen's LazyFS it knows nothing of the store's files, so a store that fsyncs the wrong file or
forgets a directory fsync loses acknowledged data at a power-off, whatever the store believes it synced.

- Semantics (filesystem.py): file data and size stay in a page cache until fsync/fdatasync of that file;
  creates, mkdirs, renames, unlinks become durable only with an fsync of their directory (strict POSIX,
  stricter than ext4's journal in practice); a power loss may tear the last written page (a random prefix
  of it reaches the disk, seeded). A clean unmount writes everything back, as a clean shutdown does.
- Process (serve.py, mounts.py): one `python -m chaos.lazyfs.serve --mount DIR` per storage node, mounted
  over the node's own data directory (backed by it through a descriptor opened before the mount), in its
  own session, so a store crash cannot take it down; `fusermount3 -u` (lazy as a fallback) unmounts it.
- Control (control.py): a UNIX socket in the abstract namespace named after the mount point, one JSON line
  each way: {"op": "lose-power", "torn_seed": N|null} answers what was dropped and torn.
- Wiring: the local backend (cluster/deploy/local_processes.py) mounts it before each storage node starts
  when the cluster's power-loss model is "fuse" (the default where /dev/fuse, fusermount3 and mfusepy are
  present), and unmounts at `down`; power-off, az-power-off and cluster-power-off call
  LocalCluster.lose_power after their SIGKILLs (chaos/lazyfs/power_cut.py). kill-leader (a crash) and
  bit-rot (a stop) keep the page cache. The Docker backend keeps the "store-mark" model.
"""
