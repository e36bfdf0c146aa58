"""The project's Docker image: which one a cluster runs, whether it is current, and how it is built.

One image runs every process (node, metadata replica, router, Toxiproxy server) with different
commands. It is tagged with a digest of the project's source, so a cluster never runs code older than
the checkout it was started from: a missing or stale image is built from wheels made on this machine
(`pip wheel`), installed in the image with `pip install --no-index` (containers reach no package index).

    python -m cluster.deploy.docker_images build [--base IMAGE]   # what `make docker-images` runs
    python -m cluster.deploy.docker_images name                    # the tag the current source needs
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IMAGE_REPOSITORY = "gameday-harness"
LOCAL_BASE_IMAGE = "gameday-base:bookworm"  # made by docker/build-base-image.sh, no registry needed
REGISTRY_BASE_IMAGE = "python:3.11-slim"
SOURCE_DIGEST_LABEL = "gameday.source-digest"
# Environment overrides: run this image as it is (no digest check, no build); build on this base.
IMAGE_ENVIRONMENT = "GAMEDAY_DOCKER_IMAGE"
BASE_IMAGE_ENVIRONMENT = "GAMEDAY_BASE_IMAGE"
# What goes into the wheel (pyproject's packages) and so into the digest.
PACKAGES = ("cluster", "chaos", "verify", "gameday", "loadgen", "canaries", "dashboards")
BUILD_HINT = "make docker-images   (or: bash docker/build-base-image.sh && python -m cluster.deploy.docker_images build)"

Say = Callable[[str], None]


class ImageError(Exception):
    """The image cannot be found or built; the message says what to run."""


def project_root() -> Path | None:
    """The checkout this code runs from, or None when it was installed from a wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() and (root / "docker" / "Dockerfile").exists() else None


def source_digest(root: Path) -> str:
    """sha256 over every file that ends up in the image: the packages, pyproject.toml and the Dockerfile."""
    digest = hashlib.sha256()
    files = [root / "pyproject.toml", root / "docker" / "Dockerfile"]
    for package in PACKAGES:
        files.extend(
            path for path in (root / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
        )
    for path in sorted(files):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def wanted_image() -> tuple[str, str | None]:
    """(tag, digest): the image the current source needs, or the user's override with no digest."""
    override = os.environ.get(IMAGE_ENVIRONMENT)
    if override:
        return override, None
    root = project_root()
    if root is None:
        return f"{IMAGE_REPOSITORY}:latest", None
    digest = source_digest(root)
    return f"{IMAGE_REPOSITORY}:src-{digest[:16]}", digest


def choose_base_image(client: Any) -> str:
    """The user's base, else our local Debian one when it exists, else python:3.11-slim from a registry."""
    import docker.errors

    chosen = os.environ.get(BASE_IMAGE_ENVIRONMENT)
    if chosen:
        return chosen
    try:
        client.images.get(LOCAL_BASE_IMAGE)
        return LOCAL_BASE_IMAGE
    except docker.errors.ImageNotFound:
        return REGISTRY_BASE_IMAGE


def ensure_image(client: Any, say: Say) -> str:
    """The tag of an image built from the current source, building it when it is missing (~30 s)."""
    import docker.errors

    tag, digest = wanted_image()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    if digest is None:
        raise ImageError(f"Docker image {tag} does not exist; build it with: {BUILD_HINT}")
    say(f"Docker image {tag} is missing (the source changed or it was never built): building it")
    return build_image(client, say)


def build_image(client: Any, say: Say, base_image: str | None = None) -> str:
    """Builds the project image from wheels made here; returns its tag. Raises ImageError."""
    import docker.errors

    root = project_root()
    if root is None:
        raise ImageError("the image is built from a checkout of the project (pyproject.toml, docker/Dockerfile)")
    tag, digest = wanted_image()
    if digest is None:
        tag = f"{IMAGE_REPOSITORY}:latest"
        digest = source_digest(root)
    base = base_image or choose_base_image(client)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gameday-image-") as context:
        context_dir = Path(context)
        wheels = context_dir / "wheels"
        # Wheels of the project and its run-time dependencies only (the image runs the store and the
        # Toxiproxy server, not the load generator or the tests).
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), str(root)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise ImageError(f"pip wheel failed (it needs the package index once, on this machine):\n{result.stderr[-2000:]}")
        shutil.copy(root / "docker" / "Dockerfile", context_dir / "Dockerfile")
        say(f"building {tag} on {base} ({len(list(wheels.glob('*.whl')))} wheels)")
        try:
            output = client.api.build(
                path=str(context_dir), tag=tag, buildargs={"BASE_IMAGE": base},
                labels={SOURCE_DIGEST_LABEL: digest}, rm=True, forcerm=True, decode=True,
            )
            log: list[str] = []
            for chunk in output:
                if "error" in chunk:
                    raise ImageError(f"docker build failed: {chunk['error'].strip()}\n{''.join(log)[-2000:]}" + _base_hint(base))
                log.append(str(chunk.get("stream", "")))
        except docker.errors.APIError as error:
            raise ImageError(f"docker build failed: {error.explanation or error}" + _base_hint(base)) from error
    client.images.get(tag).tag(IMAGE_REPOSITORY, "latest")
    say(f"built {tag} in {time.monotonic() - started:.0f}s")
    _remove_older_images(client, keep=tag)
    return tag


def _remove_older_images(client: Any, keep: str) -> None:
    """Images of older source are dead weight (~25 MB each over the base): removed, unless a container
    still uses one (Docker refuses, and it is kept)."""
    import docker.errors

    for image in client.images.list(name=IMAGE_REPOSITORY):
        older = [tag for tag in image.tags if tag.startswith(f"{IMAGE_REPOSITORY}:src-") and tag != keep]
        if older and keep not in image.tags and f"{IMAGE_REPOSITORY}:latest" not in image.tags:
            for tag in older:
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag)


def _base_hint(base: str) -> str:
    if base == REGISTRY_BASE_IMAGE:
        return (
            f"\nthe base image {base} comes from a registry; without one, build a local base first: "
            f"bash docker/build-base-image.sh (it makes {LOCAL_BASE_IMAGE})"
        )
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.deploy.docker_images", description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    build = actions.add_parser("build", help="build the project image for the current source (reused when current)")
    build.add_argument("--base", help=f"base image (default: {LOCAL_BASE_IMAGE} when present, else {REGISTRY_BASE_IMAGE})")
    build.add_argument("--force", action="store_true", help="rebuild even when the image exists")
    actions.add_parser("name", help="print the tag the current source needs")
    args = parser.parse_args(argv)
    if args.action == "name":
        print(wanted_image()[0])
        return 0
    from cluster.deploy.docker_client import DockerUnavailable, connect

    def say(message: str) -> None:
        print(message, file=sys.stderr)

    try:
        client = connect()
        tag = build_image(client, say, args.base) if args.force or args.base else ensure_image(client, say)
    except (DockerUnavailable, ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
