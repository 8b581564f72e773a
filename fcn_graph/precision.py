"""The precisions a network computes in, and whether this machine has their arithmetic.

Variables stay float32 in every precision (the master weights the
optimizer updates); convolutions and products run in the compute dtype;
the logits, and so the loss, softmax and metrics, are float32 again.
bfloat16 is the CPU choice (native with AVX512_BF16 or AMX), mixed_float16
the GPU one (it needs loss scaling in training, see training.optim).
Where a precision's arithmetic would be emulated, it runs, but slower than
float32; `emulation_note` says so before the work starts.
"""
import os

import tensorflow as tf

PRECISIONS = {"float32": tf.float32, "bfloat16": tf.bfloat16, "mixed_float16": tf.float16}
CPUINFO = "/proc/cpuinfo"
# CPU flags (as /proc/cpuinfo spells them) of native arithmetic, per low precision.
NATIVE_CPU_FLAGS = {"bfloat16": ("avx512_bf16", "amx_bf16"),
                    "mixed_float16": ("avx512_fp16", "amx_fp16")}
# GPU compute capability from which the precision runs on tensor cores.
NATIVE_GPU_CAPABILITY = {"bfloat16": (8, 0), "mixed_float16": (7, 0)}


def cpu_flags(path=CPUINFO):
    """The CPU's feature flags (empty where /proc/cpuinfo is missing)."""
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def gpu_capabilities():
    return [tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
            for gpu in tf.config.list_physical_devices("GPU")]


def native_support(precision, flags=None, capabilities=None):
    """(native, why) for `precision` on this machine: float32 is always native.

    With a GPU visible the GPU decides (the network runs there); otherwise
    the CPU's flags do.
    """
    if precision == "float32":
        return True, "float32"
    capabilities = gpu_capabilities() if capabilities is None else capabilities
    if capabilities:
        needed = NATIVE_GPU_CAPABILITY[precision]
        best = max(tuple(c) for c in capabilities)
        return best >= needed, (f"GPU compute capability {best[0]}.{best[1]} "
                                f"({'at least' if best >= needed else 'below'} "
                                f"{needed[0]}.{needed[1]})")
    flags = cpu_flags() if flags is None else flags
    present = [flag for flag in NATIVE_CPU_FLAGS[precision] if flag in flags]
    if present:
        return True, "CPU flag " + ", ".join(present)
    return False, (f"this CPU has none of {', '.join(NATIVE_CPU_FLAGS[precision])}: "
                   f"{precision} would be emulated and slow")


def emulation_note(precision, flags=None, capabilities=None):
    """A line warning that `precision` is emulated here (slower than float32), or None."""
    native, why = native_support(precision, flags, capabilities)
    if native:
        return None
    return (f"note: {precision} is not native here ({why}); it runs, but expect it to be "
            f"slower than float32 (--precision float32)")
