"""What this machine can do: its matrix-product peak per dtype.

The peak is a large square matrix product in a TensorFlow session, the
kind of work a convolution becomes in oneDNN or cuDNN; a network's GFLOP/s
is reported as a share of it. Where a precision's arithmetic is emulated
(`fcn_graph.precision.native_support`), the benchmark says so instead of
timing it.
"""
import tensorflow as tf

from fcn_graph.precision import PRECISIONS

v1 = tf.compat.v1

MATMUL_SIZE = 2048


class MatmulPeak:
    """A size x size matrix product in `precision`'s compute dtype, ready to time.

    Built and warmed up before a measurement starts (so its memory sits in
    the baseline), then timed beside every step of a phase
    (`measure.time_calls(alongside=...)`): the machine's peak under the very
    load the phase ran under.
    """

    def __init__(self, precision="float32", size=MATMUL_SIZE, warmup=2):
        self.flops = 2 * size ** 3
        dtype = PRECISIONS[precision]
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
