"""Sub-commands of `fcn-graph`, one module each (see `fcn_graph.cli`)."""
