"""Where cinlab computes, and in which precision. One place decides both; everything asks it.

**Devices.** Every entry point that computes (``Trainer``, ``gatys``, ``load_model``,
``StyleMixer``, the command line's ``--device``) accepts whatever a user writes: ``None`` (the
GPU when there is one), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``torch.device("cuda")``.
:func:`resolve_device` turns each into a concrete device: ``"cuda"`` becomes ``cuda:<index>``
(the process's ``LOCAL_RANK`` under ``torchrun``, else the current GPU), because several CUDA
calls refuse a device without an index. A GPU asked for on a machine without one, or a
spelling that is not a device, is a :class:`DeviceError` that says what to write instead.

**Precision.** :func:`choose_precision` picks the autocast dtype from what the hardware runs
natively:

============================================  =====================  ==========================
hardware                                      training               inference
============================================  =====================  ==========================
CUDA, compute capability >= 8.0 (A100, H100,  bfloat16               bfloat16
RTX 30xx/40xx)
CUDA, capability 7.x (V100, T4)               float16 + GradScaler   float16
CPU with AMX or AVX512-BF16                   bfloat16               bfloat16
anything else                                 float32                float32
============================================  =====================  ==========================

Gram matrices and losses stay float32 whatever the autocast dtype (see :mod:`cinlab.losses`):
they overflow in float16 and lose the small differences they are made of in bfloat16.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import torchrun_local_rank


class DeviceError(ValueError):
    """A device was asked for that this machine does not have, or that is not a device."""


def default_device() -> torch.device:
    """The GPU when there is one (``cuda:<index>``), else the CPU."""
    return resolve_device(None)


def resolve_device(device: torch.device | str | None = None) -> torch.device:
    """A concrete device for any spelling a user writes.

    ``None`` or ``"auto"``: the GPU when there is one, else the CPU. ``"cuda"`` and
    ``torch.device("cuda")``: ``cuda:<LOCAL_RANK>`` under torchrun, else the current GPU.
    Raises :class:`DeviceError` for a GPU that is not there and for strings that are not devices.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(
            f"{device!r} is not a device: use 'cpu', 'cuda' or 'cuda:N' (or leave it out for the GPU when present)."
        ) from None
    if parsed.type == "cpu":
        return torch.device("cpu")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"Device {str(device)!r} was asked for, but this machine has no usable CUDA GPU "
                "(torch.cuda.is_available() is False): use 'cpu', or install PyTorch's CUDA build on a GPU machine."
            )
        count = torch.cuda.device_count()
        if parsed.index is not None:
            index = parsed.index
        elif torchrun_local_rank() is not None:  # torchrun: one process per GPU
            index = torchrun_local_rank()
        else:
            index = torch.cuda.current_device()
        if not 0 <= index < count:
            raise DeviceError(f"GPU {index} was asked for, but this machine has {count} (cuda:0 to cuda:{count - 1}).")
        return torch.device("cuda", index)
    if parsed.type == "mps" and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return parsed
    raise DeviceError(f"cinlab runs on 'cpu' or 'cuda' devices; got {str(device)!r}.")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for a module without any)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def check_same_device(tensor: torch.Tensor, device: torch.device, what: str = "images") -> None:
    """Raise a clear error when ``tensor`` is not on ``device`` (instead of a copy every call)."""
    if tensor.device != device:
        raise DeviceError(
            f"The {what} are on {tensor.device} but the network is on {device}: move them first "
            f"(.to({str(device)!r})), or pass an image to stylize(), which loads it onto the network's device."
        )


def cuda_capability(device: torch.device) -> tuple[int, int]:
    """(major, minor) compute capability of a CUDA device."""
    return torch.cuda.get_device_capability(device)


def cpu_has_native_bf16() -> bool:
    """True on CPUs with AMX or AVX512-BF16 (e.g. Intel Sapphire Rapids); bf16 elsewhere is emulated."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check is not None and check() for check in checks)


@dataclass(frozen=True)
class Precision:
    """An autocast setting: ``dtype`` is float32 (no autocast), bfloat16 or float16.

    ``with precision.autocast(): ...`` runs a forward pass in it; ``needs_grad_scaler`` says
    whether training must scale its loss (float16's narrow range underflows small gradients).
    """

    device_type: str
    dtype: torch.dtype = torch.float32

    @property
    def mixed(self) -> bool:
        return self.dtype != torch.float32

    @property
    def needs_grad_scaler(self) -> bool:
        return self.dtype == torch.float16

    @property
    def name(self) -> str:
        return {torch.float32: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self):
        """A context manager: autocast to ``dtype``, or nothing for float32."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler that is active only where it is needed (float16)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.needs_grad_scaler)


#: What users may ask for: ``"auto"`` (the table above), or a fixed choice.
PRECISION_MODES = {
    "auto": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "float32": torch.float32,
    "none": torch.float32,
}


def choose_precision(device: torch.device | str, mode: str | torch.dtype | None = "auto") -> Precision:
    """The autocast dtype for ``device``: see the table in this module's docstring.

    ``mode`` ``"auto"`` decides by hardware; ``"bf16"``, ``"fp16"``, ``"float32"`` (or
    ``"none"``, or a ``torch.dtype``) force a choice. Training and inference use the same
    dtype; float16 training adds a gradient scaler (:attr:`Precision.needs_grad_scaler`).
    """
    device = torch.device(device)
    if isinstance(mode, torch.dtype):
        dtype = mode
    elif mode is None:
        dtype = None
    elif isinstance(mode, str) and mode.lower() in PRECISION_MODES:
        dtype = PRECISION_MODES[mode.lower()]
    else:
        raise ValueError(f"precision must be one of {', '.join(PRECISION_MODES)}; got {mode!r}.")
    if dtype is None:
        dtype = _native_dtype(device)
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"Unsupported autocast dtype {dtype}; use float32, bfloat16 or float16.")
    return Precision(device.type, dtype)


def _native_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        major, _ = cuda_capability(device)
        if major >= 8:
            return torch.bfloat16
        if major == 7:
            return torch.float16
        return torch.float32
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def describe_hardware() -> str:
    """The GPU's name, or the CPU's model and torch's thread count (for results files)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {name}, {torch.get_num_threads()} threads"
