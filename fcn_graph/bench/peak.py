"""What this machine can do: its matrix-product peak per dtype, and whether it has native
bfloat16 or float16 arithmetic.

The peak is a large square matrix product in a TensorFlow session, the
kind of work a convolution becomes in oneDNN or cuDNN; a network's GFLOP/s
is reported as a share of it. Where the precision's arithmetic is emulated
(bfloat16 on a CPU without AVX512_BF16 or AMX, float16 on a CPU without
AVX512_FP16 or AMX-FP16), the benchmark says so instead of timing it.
"""
import os

import tensorflow as tf

v1 = tf.compat.v1

MATMUL_SIZE = 2048
CPUINFO = "/proc/cpuinfo"
# CPU flags (as /proc/cpuinfo spells them) of native arithmetic, per low precision.
NATIVE_CPU_FLAGS = {"bfloat16": ("avx512_bf16", "amx_bf16"),
                    "mixed_float16": ("avx512_fp16", "amx_fp16")}
# GPU compute capability from which the precision runs on tensor cores.
NATIVE_GPU_CAPABILITY = {"bfloat16": (8, 0), "mixed_float16": (7, 0)}
DTYPES = {"float32": tf.float32, "bfloat16": tf.bfloat16, "mixed_float16": tf.float16}


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
    """(native, why) for `precision` on this machine: float32 is always native."""
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


class MatmulPeak:
    """A size x size matrix product in `precision`'s compute dtype, ready to time.

    Built and warmed up before a measurement starts (so its memory sits in
    the baseline), then timed beside every step of a phase
    (`measure.time_calls(alongside=...)`): the machine's peak under the very
    load the phase ran under.
    """

    def __init__(self, precision="float32", size=MATMUL_SIZE, warmup=2):
        self.flops = 2 * size ** 3
        dtype = DTYPES[precision]
        graph = tf.Graph()
        with graph.as_default():
            a, b = (tf.Variable(tf.cast(tf.random.uniform([size, size], -1, 1), dtype))
                    for _ in range(2))
            # Fetching one element keeps the transfer out of the timing; the product is whole.
            self.corner = tf.matmul(a, b)[0, 0]
            init = v1.global_variables_initializer()
        graph.finalize()
        self.session = v1.Session(graph=graph)
        self.session.run(init)
        for _ in range(warmup):
            self()

    def __call__(self):
        self.session.run(self.corner)

    def gflops(self, seconds):
        return self.flops / seconds / 1e9

    def close(self):
        self.session.close()
