"""``summary()``: the DL4J-style table of a network's vertices, sizes and parameters."""

HEADER = ("VertexName (VertexType)", "nIn,nOut", "TotalParams", "ParamsShape", "Vertex Inputs")


def summary_table(net, vertices):
    """The table for ``net``; ``vertices`` yields (name, vertex or None for an input, inputs)."""
    rows = [HEADER] + [_row(net, name, vertex, inputs) for name, vertex, inputs in vertices]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    line = "=" * (sum(widths) + 8)
    out = [line]
    for i, row in enumerate(rows):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            out.append(line)
    # As DL4J counts: frozen = the parameters of frozen layers; batch norm's running
    # statistics get no gradient but belong to a trainable layer.
    frozen = sum(net.layer_num_params(key) for key, layer in net.layer_items() if layer.frozen)
    total = net.num_params()
    out += ["-" * (sum(widths) + 8),
            f"            Total Parameters:  {total}",
            f"        Trainable Parameters:  {total - frozen}",
            f"           Frozen Parameters:  {frozen}", line]
    return "\n".join(out)


def _row(net, name, vertex, inputs):
    n_in, n_out = getattr(vertex, "n_in", None), getattr(vertex, "n_out", None)
    sizes = f"{n_in},{n_out}" if n_out is not None else "-"
    table = (net.param_tables or {}).get(name, {})
    total = sum(int(t.data.size) for t in table.values())
    shapes = ", ".join(f"{p}:{tuple(t.shape)}" for p, t in table.items()) or "-"
    if vertex is None:
        kind = "InputVertex"
    elif hasattr(vertex, "describe"):
        kind = vertex.describe().split("(", 1)[-1].rstrip(")")
    else:
        kind = type(vertex).__name__
    return f"{name} ({kind})", sizes, str(total) if total else "-", shapes, inputs
