"""Per-op time of one session run, from its RunMetadata (a full trace).

The trace shows the graph as it ran, after grappler's rewrites: a fused
convolution appears once, as `_MklNativeFusedConv2D` (oneDNN) or
`_FusedConv2D`, under the name of its last fused op (`conv1_1/relu`), and
whatever was not fused (a BiasAdd, a Relu, a Pad, a layout Transpose)
appears as an op of its own. Ops may overlap, so the shares are of the
summed op time, not of the wall time.
"""
import collections
import time

import tensorflow as tf

v1 = tf.compat.v1


def op_times(session, fetches, feed_dict=None):
    """(wall seconds, [(op name, op type, milliseconds)] slowest first) of one traced run."""
    options = v1.RunOptions(trace_level=v1.RunOptions.FULL_TRACE)
    metadata = v1.RunMetadata()
    start = time.perf_counter()
    session.run(fetches, feed_dict, options=options, run_metadata=metadata)
    wall = time.perf_counter() - start
    totals = collections.Counter()
    types = {}
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            name = node.node_name.split(":")[0]
            totals[name] += node.op_end_rel_micros / 1000.0
            # The label reads "name = Type(inputs)".
            types[name] = node.timeline_label.split(" = ", 1)[-1].split("(", 1)[0] \
                if " = " in node.timeline_label else "?"
    rows = [(name, types[name], ms) for name, ms in totals.most_common()]
    return wall, rows


def by_type(rows):
    """[(op type, milliseconds, count)] slowest first."""
    totals, counts = collections.Counter(), collections.Counter()
    for _, kind, ms in rows:
        totals[kind] += ms
        counts[kind] += 1
    return [(kind, ms, counts[kind]) for kind, ms in totals.most_common()]


def format_profile(title, wall, rows, top=15):
    """A table of the op types, then of the `top` slowest ops, with their shares."""
    total = sum(ms for _, _, ms in rows) or 1.0
    lines = [f"{title}: traced run {1000 * wall:.0f} ms wall, {total:.0f} ms summed over "
             f"{len(rows)} ops",
             f"  {'op type':<36}{'ms':>10}{'share':>8}{'ops':>6}"]
    lines += [f"  {kind:<36}{ms:>10.1f}{ms / total:>8.1%}{count:>6}"
              for kind, ms, count in by_type(rows) if ms >= 0.0005 * total]
    lines.append(f"  {'op (slowest ' + str(top) + ')':<44}{'type':<32}{'ms':>10}{'share':>8}")
    lines += [f"  {name[:43]:<44}{kind[:31]:<32}{ms:>10.1f}{ms / total:>8.1%}"
              for name, kind, ms in rows[:top]]
    return "\n".join(lines)
