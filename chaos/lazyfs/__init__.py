"""lazyfs: a FUSE file system that loses what was not fsynced when the harness cuts the power.

Like Jepsen's LazyFS, it knows nothing of the store's files. See filesystem.py for the semantics,
control.py for the control channel, mounts.py for starting and stopping a mount.
"""
