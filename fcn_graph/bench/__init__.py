"""Speed, FLOPs and memory of an FCN in TensorFlow, beside an independent PyTorch rendering.

    from fcn_graph.bench import BenchOptions, run_benchmark, format_report
    print(format_report(run_benchmark(BenchOptions(model="fcn8s", size=500, torch=True))))

The TensorFlow side is the project's graph in a session (forward and an
SGD training step, the latter also compiled with XLA); the PyTorch side is
the same network written in eager `torch.nn.functional` calls with the same
weights, so the logits of both can be compared.
"""
from fcn_graph.bench.runner import BenchOptions, format_report, run_benchmark

__all__ = ["BenchOptions", "format_report", "run_benchmark"]
