"""How much memory stylising an image takes, and refusing before starting what cannot fit.

A forward pass of :class:`~cinlab.model.TransformerNet` holds a few full-resolution feature maps
at once (the first and last layers have ``c1`` = 32 x width channels at the image's full
resolution; the up-sampling layer's input is twice that). Measured on a CPU in float32 (peak
resident memory of a fresh process minus its memory before the pass; ``benchmarks/stylize_memory.py``
repeats the measurement): 705 bytes per pixel per image at width 1 (images of 1 to 6.3 Mpx; the
same per image for batches of 2 and 4), 1,412 at width 2, 449 at width 0.5 and 176-185 at width
0.25: about 22 bytes per full-resolution channel and pixel. :func:`stylize_bytes` estimates
``(22 * c1 + 100) * pixels * images + 256 MiB``: 804 bytes per pixel at width 1, a margin of
about 14 % above the measurement, plus the allocator's fixed overhead seen at small sizes.

:func:`check_stylize_memory` compares that with what this process may still allocate
(:func:`available_memory`: the smallest of ``/proc/meminfo``'s MemAvailable, the cgroup memory
limit less its usage, and the ``RLIMIT_AS`` / ``RLIMIT_DATA`` limits less the process's current
size) and raises :class:`NotEnoughMemoryError` naming the largest size that fits, before any
work. On a GPU the estimate is not checked (it was not measured there); an out-of-memory error
on a GPU is turned into one line by the command line instead.
"""

from __future__ import annotations

import math
import resource
from pathlib import Path

import torch

#: Measured bytes per pixel and per full-resolution channel of a CPU float32 forward pass.
BYTES_PER_CHANNEL_PIXEL = 22
#: Added per pixel: the image, the output and what the measurement scattered (width 0.5: +97).
BYTES_PER_PIXEL_MARGIN = 100
#: Fixed overhead of a pass (allocator arenas, convolution scratch space), measured up to ~170 MB.
FIXED_BYTES = 256 << 20


class NotEnoughMemoryError(ValueError):
    """An image is too large to stylise with the memory this process may use; the message names the
    largest size that fits."""


def _first_channels(model) -> int:
    """Channels of the full-resolution layers (c1: 32 at width 1)."""
    config = getattr(model, "config", None)
    return config.channels()[0] if config is not None else 32


def stylize_bytes(model, height: int, width: int, count: int = 1) -> int:
    """Estimated peak bytes of stylising ``count`` images of ``height`` x ``width`` px with ``model``
    (a :class:`~cinlab.model.TransformerNet`) in one pass on a CPU, float32 (see the module docstring)."""
    pixels = (height + (-height) % 4) * (width + (-width) % 4)  # the network pads to a multiple of 4
    per_pixel = BYTES_PER_CHANNEL_PIXEL * _first_channels(model) + BYTES_PER_PIXEL_MARGIN
    return per_pixel * pixels * count + FIXED_BYTES


def _proc_status(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _inactive_file(stat: Path, keys: tuple[str, ...]) -> int:
    """Reclaimable page cache a cgroup's usage includes (its limit does not stop us reusing it)."""
    try:
        values = dict(line.split()[:2] for line in stat.read_text().splitlines() if line.strip())
    except (OSError, ValueError):
        return 0
    for key in keys:
        if key in values:
            try:
                return int(values[key])
            except ValueError:
                return 0
    return 0


def _cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The least room left under any memory limit of this process's cgroups (v2 and v1), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    rooms = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, relative = parts
        if controllers == "":  # v2: one unified hierarchy
            base, limit_file, usage_file, keys = root, "memory.max", "memory.current", ("inactive_file",)
        elif "memory" in controllers.split(","):
            base, limit_file, usage_file = root / "memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
            keys = ("total_inactive_file", "inactive_file")
        else:
            continue
        # The cgroup itself and its ancestors (inside a container the mount root is the container's own).
        folder = base / relative.lstrip("/")
        candidates = [folder, *folder.parents] if folder.is_dir() else [base]
        for cgroup in candidates:
            if cgroup != base and base not in cgroup.parents:
                break
            limit = _read_int(cgroup / limit_file)
            usage = _read_int(cgroup / usage_file)
            if limit is not None and usage is not None and limit < (1 << 60):
                rooms.append(limit - max(0, usage - _inactive_file(cgroup / "memory.stat", keys)))
    return min(rooms) if rooms else None


def available_memory(device: torch.device | str = "cpu") -> tuple[int | None, str]:
    """Bytes this process may still allocate on ``device``, and which limit sets it.

    CPU: the smallest of MemAvailable (``/proc/meminfo``), the cgroup memory limit less its usage
    (page cache excluded), and ``RLIMIT_AS`` less the virtual size and ``RLIMIT_DATA`` less the data
    size of this process. ``(None, "")`` where none is known, and for GPUs (not estimated there).
    """
    if torch.device(device).type != "cpu":
        return None, ""
    limits: list[tuple[int, str]] = []
    available = _meminfo_available()
    if available is not None:
        limits.append((available, "the memory available on this machine"))
    room = _cgroup_room()
    if room is not None:
        limits.append((room, "the memory limit of this container (cgroup)"))
    for which, field, name in (
        (resource.RLIMIT_AS, "VmSize", "this process's address-space limit (ulimit -v)"),
        (resource.RLIMIT_DATA, "VmData", "this process's data-size limit (ulimit -d)"),
    ):
        soft, _ = resource.getrlimit(which)
        used = _proc_status(field)
        if soft != resource.RLIM_INFINITY and used is not None:
            limits.append((soft - used, name))
    if not limits:
        return None, ""
    value, name = min(limits)
    return max(0, value), name


def largest_side(model, height: int, width: int, count: int = 1, available: int | None = None) -> int:
    """The largest shorter side (px) an image of ``height`` x ``width``'s shape can be stylised at in
    ``available`` bytes (default: :func:`available_memory`), ``count`` images in one pass; 0 if none."""
    if available is None:
        available, _ = available_memory("cpu")
        if available is None:
            raise ValueError("The memory available is not known on this system.")
    short, long = sorted((int(height), int(width)))
    ratio = long / short
    per_pixel = BYTES_PER_CHANNEL_PIXEL * _first_channels(model) + BYTES_PER_PIXEL_MARGIN
    room = available - FIXED_BYTES
    if room <= 0:
        return 0
    side = int(math.sqrt(room / (per_pixel * count * ratio)))
    while side > 0 and stylize_bytes(model, side, math.ceil(side * ratio), count) > available:  # padding, rounding
        side -= 1
    return side


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def check_stylize_memory(model, height: int, width: int, count: int = 1, device: torch.device | str = "cpu") -> None:
    """Raise :class:`NotEnoughMemoryError` before stylising ``count`` images of ``height`` x ``width``
    px in one pass on ``device`` if the estimate (:func:`stylize_bytes`) exceeds what the process may
    allocate (:func:`available_memory`). The message names the largest size that fits and the fix.
    Nothing is checked on GPUs or where no limit is known."""
    available, limit = available_memory(device)
    if available is None:
        return
    need = stylize_bytes(model, height, width, count)
    if need <= available:
        return
    side = largest_side(model, height, width, 1, available)
    many = f" ({count} images in one pass; one at a time needs less)" if count > 1 else ""
    fix = (
        f"ask for a shorter side of at most {side} px (size={side}; on the command line --size {side})"
        if side >= 16
        else "free memory or use a machine with more"
    )
    raise NotEnoughMemoryError(
        f"Stylising a {width}x{height} image needs about {_gb(need)} of memory{many}, more than the "
        f"{_gb(available)} left under {limit}: {fix}."
    )


def images_per_pass(model, height: int, width: int, count: int, device: torch.device | str = "cpu") -> int:
    """How many of ``count`` images of ``height`` x ``width`` px to stylise per pass so each pass fits
    in memory (``count`` where nothing is known). Raises :class:`NotEnoughMemoryError` when not even
    one image fits."""
    available, _ = available_memory(device)
    if available is None or stylize_bytes(model, height, width, count) <= available:
        return max(1, count)
    check_stylize_memory(model, height, width, 1, device)  # raises when one image is already too many
    fits = 1
    while fits < count and stylize_bytes(model, height, width, fits + 1) <= available:
        fits += 1
    return fits
