"""The Pareto plot of a search: accuracy against latency, one panel per hardware profile."""
from nas_client.proto import nas_pb2

# Offsets (points) tried in turn for a label, nearest first, so that labels of nearby points
# do not cover each other or the points.
_OFFSETS = [(6, 6), (6, -12), (-10, 8), (-10, -14), (10, 18), (10, -24), (-22, 18),
            (-22, -26), (18, 0), (-30, 0), (6, 30), (6, -36)]


def _overlaps(box, boxes):
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


def place_labels(points, width_per_char=6.0, height=10.0, marker=4.0):
    """Chooses a label offset for each (x_px, y_px, text), in display units, so that no label
    box overlaps another label or a point. Returns [(dx, dy) or None when no offset fits]."""
    taken = [(x - marker, y - marker, x + marker, y + marker) for x, y, _ in points]
    placed = []
    for x, y, text in points:
        w = width_per_char * len(text)
        choice = None
        for dx, dy in _OFFSETS:
            box = (x + dx, y + dy, x + dx + w, y + dy + height)
            if not _overlaps(box, taken):
                choice = (dx, dy)
                taken.append(box)
                break
        placed.append(choice)
    return placed


def pareto_figure(search, fronts, everyone, path=None):
    """A matplotlib Figure of each front (blue, labelled with candidate ids) over every
    evaluated candidate (grey). Latency is on a logarithmic axis for every source (measured,
    predicted or modelled: costs span orders of magnitude alike)."""
    try:
        import matplotlib
        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_pareto() needs matplotlib (apt install python3-matplotlib)") \
            from None
    n = max(1, len(fronts))
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4.5), squeeze=False)
    drawn = []  # (axes, front members with a latency, their x, their y)
    for ax, front in zip(axes[0], fronts):
        profile = front.profile_id
        xs, ys = [], []
        for c in everyone:
            for pm in c.profile_metrics:
                if pm.profile_id == profile and pm.latency_ms > 0:
                    xs.append(pm.latency_ms)
                    ys.append(pm.accuracy or c.metrics.val_accuracy)
        ax.scatter(xs, ys, s=12, color="#b0b0b0", label="evaluated", zorder=1)
        members = sorted((m for m in front.members if m.profile_metrics.latency_ms > 0),
                         key=lambda m: m.profile_metrics.latency_ms)
        fx = [m.profile_metrics.latency_ms for m in members]
        fy = [m.profile_metrics.accuracy or m.metrics.val_accuracy for m in members]
        ax.plot(fx, fy, "-", color="#1f5fbf", label="Pareto front", zorder=2)
        ci = [m.profile_metrics.latency_ci_ms for m in members]
        if any(ci):  # a measured latency's 95% interval
            ax.errorbar(fx, fy, xerr=ci, fmt="none", ecolor="#0b3d91", alpha=0.7, zorder=2)
        noisy = [m.profile_metrics.latency_unsettled for m in members]
        ax.scatter([x for x, n in zip(fx, noisy) if not n], [y for y, n in zip(fy, noisy) if not n],
                   s=28, color="#1f5fbf", zorder=3)
        if any(noisy):  # hollow: latency within measurement noise
            ax.scatter([x for x, n in zip(fx, noisy) if n], [y for y, n in zip(fy, noisy) if n],
                       s=28, facecolors="white", edgecolors="#1f5fbf", zorder=3,
                       label="latency within noise")
        sources = {nas_pb2.LatencySource.Name(m.profile_metrics.latency_source)
                   .replace("LATENCY_SOURCE_", "").lower() for m in members}
        if fx or xs:
            ax.set_xscale("log")
        ax.set_xlabel(f"latency, ms, log scale ({', '.join(sorted(sources)) or 'no members'})")
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"{profile}: {len(front.members)} on the front")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        drawn.append((ax, members, fx, fy))
    fig.suptitle(f"search {search.id} {search.name}".strip())
    fig.tight_layout()
    fig.canvas.draw()  # the layout is final: positions in display units are right
    for ax, members, fx, fy in drawn:
        labels = [str(m.candidate_id) for m in members]
        display = ax.transData.transform(list(zip(fx, fy))) if fx else []
        offsets = place_labels([(px, py, t) for (px, py), t in zip(display, labels)],
                               width_per_char=6.0 * fig.dpi / 72, height=10.0 * fig.dpi / 72)
        for x, y, text, offset in zip(fx, fy, labels, offsets):
            if offset is not None:  # else crowded out: the point stays, unlabelled
                ax.annotate(text, (x, y), xytext=offset, textcoords="offset points",
                            fontsize=8, color="#1f5fbf")
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
