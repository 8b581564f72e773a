"""`fcn-graph cluster local`: a training cluster of processes on this machine."""
import argparse

from fcn_graph.distributed.local import LocalCluster
from fcn_graph.errors import UsageError

DESCRIPTION = """\
Start a cluster on this machine: one `fcn-graph train` process per task,
each with its own TF_CONFIG (addresses on 127.0.0.1, free ports), all given
the training flags after `--`. The chief is the first of the --workers;
--ps parameter servers hold the variables. Every task's output is shown
with its name in front. A worker that dies is started again and rejoins;
when the chief finishes or fails, every task is stopped and the chief's
exit status is returned. Ctrl-C stops the cluster (the chief saves a
checkpoint first).

  fcn-graph cluster local --workers 2 --ps 1 -- --run-dir runs/two --max-steps 600
"""


def register(subparsers):
    parser = subparsers.add_parser("cluster", help="run a training cluster",
                                   description="Training clusters; see `cluster local`.")
    commands = parser.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    local = commands.add_parser(
        "local", help="a cluster of processes on this machine", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    local.add_argument("--workers", type=int, default=2,
                       help="training processes, the chief included (default: 2)")
    local.add_argument("--ps", type=int, default=1, help="parameter servers (default: 1)")
    local.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                       help="stop every task after this long (default: none)")
    local.add_argument("train_args", nargs=argparse.REMAINDER, metavar="-- TRAIN_FLAGS",
                       help="the `fcn-graph train` flags of every task")
    local.set_defaults(func=run_local)


def run_local(args):
    train_args = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    if args.workers < 1 or args.ps < 1:
        raise UsageError("--workers and --ps must be at least 1")
    taken = [flag for flag in ("--cluster", "--task") if any(
        arg == flag or arg.startswith(flag + "=") for arg in train_args)]
    if taken:
        raise UsageError(f"{taken[0]} is set by `cluster local` for each task; drop it")
    with LocalCluster(args.workers, args.ps, train_args) as cluster:
        cluster.start()
        status = cluster.supervise(args.timeout)
    return 124 if status is None else status
