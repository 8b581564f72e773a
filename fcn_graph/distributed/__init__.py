"""Training across machines on TensorFlow's own distributed runtime.

A run is a cluster of processes described by TF_CONFIG or the --cluster and
--task settings (`spec`): one chief, more workers, and ps tasks holding the
variables, balanced by bytes (`placement`). Workers take synchronous steps
through shared accumulators on the ps tasks (`aggregation`), or apply their
updates asynchronously; `coordination` is each process's part in the run,
and `local` starts a whole cluster on this machine.
"""
from fcn_graph.distributed.aggregation import SynchronousAggregation
from fcn_graph.distributed.coordination import ONE_MACHINE, ClusterReplica, Rejoin, join
from fcn_graph.distributed.spec import ClusterTask, cluster_task, parse_cluster, parse_task

__all__ = ["ClusterReplica", "ClusterTask", "ONE_MACHINE", "Rejoin", "SynchronousAggregation",
           "cluster_task", "join", "parse_cluster", "parse_task"]
