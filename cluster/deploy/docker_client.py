"""A connection to the Docker daemon, or an error that says what to do when there is none."""

from __future__ import annotations

import os
from typing import Any

INSTALL_HINT = "pip install 'gameday-harness[docker]' (the Docker SDK for Python)"
DAEMON_HINT = (
    "start one (as root: `dockerd > /tmp/dockerd.log 2>&1 &`, or `systemctl start docker`; "
    "Debian's package is docker.io), or point DOCKER_HOST at a running daemon"
)


class DockerUnavailable(Exception):
    """No Docker SDK or no daemon: the message names the cause and the fix."""


def connect(timeout_s: float = 60.0) -> Any:
    """A docker.DockerClient that has answered a ping."""
    try:
        import docker.errors

        import docker
    except ImportError as error:
        raise DockerUnavailable(f"the Docker backend needs the docker package: {INSTALL_HINT}") from error
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=int(timeout_s))
        client.ping()
    except docker.errors.DockerException as error:
        raise DockerUnavailable(f"no Docker daemon answers at {where}: {DAEMON_HINT} ({error})") from error
    except Exception as error:  # requests' and urllib3's errors for a closed socket
        raise DockerUnavailable(f"no Docker daemon answers at {where}: {DAEMON_HINT} ({error})") from error
    return client
