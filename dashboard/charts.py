"""Altair charts of the dashboard: emotion bars, the valence-arousal plane, heatmaps and embedding maps.

Every function takes plain data (mappings, arrays, data frames) and returns an Altair chart, so the
charts can be built and checked without a running Streamlit session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import altair as alt
import numpy as np
import pandas as pd

# Words drawn faintly on every VA plane so a reader can tell which corner means what.
VA_LANDMARKS: tuple[str, ...] = ("happy", "exciting", "angry", "tension", "sad", "calm", "tenderness", "nostalgia")
MAX_POINTS = 5000  # Vega-Lite in the browser stays responsive below this
VALENCE_TITLE, AROUSAL_TITLE = "valence (unpleasant → pleasant)", "arousal (calm → energetic)"


def emotion_bars(emotions: Mapping[str, float], *, title: str = "", top: int = 8) -> alt.Chart:
    """Horizontal bars of the ``top`` most probable labels, best first."""
    ranked = sorted(emotions.items(), key=lambda item: item[1], reverse=True)[:top]
    frame = pd.DataFrame(ranked, columns=["emotion", "probability"])
    return (
        alt.Chart(frame, title=title)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"), title=None),
            y=alt.Y("emotion:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.value("#7d53de"),
            tooltip=["emotion", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=bar_height(len(frame)))
    )


def bar_height(rows: int) -> int:
    """Pixel height that gives each of ``rows`` bars room for its label.

    Streamlit sizes Vega-Lite charts with ``autosize: fit``, so the height includes title and axis.
    """
    return 90 + 26 * max(rows, 2)


def va_plane(
    points: pd.DataFrame,
    *,
    color: str | None = None,
    tooltip: Sequence[str] = (),
    query: tuple[float, float] | None = None,
    size: str | None = None,
    title: str = "",
    landmarks: Mapping[str, tuple[float, float]] | None = None,
    height: int = 420,
    density: np.ndarray | None = None,
) -> alt.LayerChart:
    """Points on the valence-arousal plane (both 0-1), optionally with the query as a star.

    Args:
        points: Data frame with ``valence`` and ``arousal`` columns plus any fields named below.
        color: Column that colours the points (nominal).
        tooltip: Columns shown on hover.
        query: The query's (valence, arousal), drawn as a large star.
        size: Quantitative column that sizes the points (e.g. the match score).
        title: Chart title.
        landmarks: Emotion words -> VA drawn as faint reference labels.
        height: Chart height in pixels.
        density: A ``bins x bins`` count histogram (valence bin, arousal bin) drawn as shaded cells under
            the points: how a catalog too big to draw point by point spreads (see :func:`va_cells`).
    """
    points = _sample(points)
    axis_x = alt.X("valence:Q", scale=alt.Scale(domain=[0, 1]), title=VALENCE_TITLE)
    axis_y = alt.Y("arousal:Q", scale=alt.Scale(domain=[0, 1]), title=AROUSAL_TITLE)
    rules = alt.Chart(pd.DataFrame({"at": [0.5]}))
    layers: list[alt.Chart] = [
        rules.mark_rule(color="#bbb", strokeDash=[4, 4]).encode(x="at:Q"),
        rules.mark_rule(color="#bbb", strokeDash=[4, 4]).encode(y="at:Q"),
    ]
    if density is not None:
        cells = va_cells(density)
        layers.append(
            alt.Chart(cells)
            .mark_rect()
            .encode(
                x=alt.X("v0:Q", scale=alt.Scale(domain=[0, 1]), title=VALENCE_TITLE), x2="v1:Q",
                y=alt.Y("a0:Q", scale=alt.Scale(domain=[0, 1]), title=AROUSAL_TITLE), y2="a1:Q",
                color=alt.Color("tracks:Q", scale=alt.Scale(scheme="greys", type="sqrt"), title="tracks"),
                tooltip=[alt.Tooltip("tracks:Q", format=","), alt.Tooltip("v0:Q", title="valence from", format=".2f"),
                         alt.Tooltip("a0:Q", title="arousal from", format=".2f")],
            )
        )
    if landmarks:
        words = pd.DataFrame([(word, v, a) for word, (v, a) in landmarks.items()], columns=["word", "valence", "arousal"])
        layers.append(alt.Chart(words).mark_text(color="#999", fontStyle="italic", fontSize=11).encode(axis_x, axis_y, text="word:N"))
    if len(points):
        encoding: dict = {"x": axis_x, "y": axis_y}
        if tooltip:
            encoding["tooltip"] = list(tooltip)
        if color:
            encoding["color"] = alt.Color(f"{color}:N", title=color, scale=alt.Scale(scheme="tableau10"))
        if size:
            encoding["size"] = alt.Size(f"{size}:Q", legend=None, scale=alt.Scale(range=[40, 260]))
        layers.append(alt.Chart(points).mark_circle(opacity=0.8, stroke="white", strokeWidth=0.5).encode(**encoding))
    if query is not None:
        star = pd.DataFrame({"valence": [query[0]], "arousal": [query[1]], "what": ["your query"]})
        layers.append(
            alt.Chart(star)
            .mark_point(shape="diamond", size=420, filled=True, color="#d62728", stroke="black", strokeWidth=1)
            .encode(axis_x, axis_y, tooltip=["what", alt.Tooltip("valence:Q", format=".2f"), alt.Tooltip("arousal:Q", format=".2f")])
        )
    return alt.layer(*layers).properties(title=title, height=height)


def va_cells(counts: np.ndarray) -> pd.DataFrame:
    """The non-empty cells of a valence-arousal count histogram as rectangles (``v0, v1, a0, a1, tracks``)."""
    counts = np.asarray(counts)
    bins_v, bins_a = counts.shape
    valence, arousal = np.nonzero(counts)
    return pd.DataFrame({
        "v0": valence / bins_v, "v1": (valence + 1) / bins_v, "a0": arousal / bins_a, "a1": (arousal + 1) / bins_a,
        "tracks": counts[valence, arousal].astype(int),
    })


def similarity_heatmap(
    matrix: np.ndarray,
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    title: str = "",
    row_title: str = "",
    col_title: str = "",
    value_title: str = "similarity",
) -> alt.Chart:
    """A labelled ``rows x cols`` matrix (similarities, per-class scores) with the values written in each cell."""
    matrix = np.asarray(matrix, dtype=float)
    frame = pd.DataFrame(
        [(row, col, float(matrix[i, j])) for i, row in enumerate(rows) for j, col in enumerate(cols)],
        columns=["row", "col", "value"],
    )
    base = alt.Chart(frame, title=title).encode(
        x=alt.X("col:N", sort=list(cols), title=col_title, axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("row:N", sort=list(rows), title=row_title),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", scale=alt.Scale(scheme="redblue", domainMid=0.5 if frame["value"].min() >= 0 else 0), title=value_title),
        tooltip=["row", "col", alt.Tooltip("value:Q", format=".2f")],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=".2f"),
        color=alt.condition(_far_from_middle(frame["value"]), alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(height=120 + 28 * len(rows))  # the height includes the slanted column labels


def _far_from_middle(values: pd.Series) -> alt.expr.core.Expression:
    low, high = float(values.min()), float(values.max())
    span = (high - low) or 1.0
    return (alt.datum.value < low + 0.2 * span) | (alt.datum.value > high - 0.2 * span)


def embedding_map(
    points: pd.DataFrame,
    *,
    color: str = "label",
    shape: str | None = "modality",
    shapes: Mapping[str, str] | None = None,
    tooltip: Sequence[str] = (),
    title: str = "",
) -> alt.Chart:
    """A 2-D projection (``x``, ``y`` columns) of embeddings, coloured by label and shaped by modality.

    Args:
        shapes: Value of the ``shape`` column -> Vega shape name (``circle``, ``square`` ...).
    """
    points = _sample(points)
    encoding: dict = {
        "x": alt.X("x:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
        "y": alt.Y("y:Q", title=None, axis=alt.Axis(labels=False, ticks=False)),
        "color": alt.Color(f"{color}:N", title=color, scale=alt.Scale(scheme="tableau20")),
        "tooltip": list(tooltip) or [color],
    }
    if shape:
        scale = alt.Scale(domain=list(shapes), range=list(shapes.values())) if shapes else alt.Undefined
        encoding["shape"] = alt.Shape(f"{shape}:N", title=shape, scale=scale)
    return alt.Chart(points, title=title).mark_point(filled=True, opacity=0.75, size=60).encode(**encoding).properties(height=480).interactive()


def count_bars(counts: Mapping[str, int], *, title: str = "", field: str = "value") -> alt.Chart:
    """Bars of how many items fall in each category, largest first."""
    frame = pd.DataFrame(sorted(counts.items(), key=lambda item: item[1], reverse=True), columns=[field, "tracks"])
    return (
        alt.Chart(frame, title=title)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X("tracks:Q", title="tracks"),
            y=alt.Y(f"{field}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            color=alt.Color(f"{field}:N", legend=None, scale=alt.Scale(scheme="tableau10")),
            tooltip=[field, "tracks"],
        )
        .properties(height=bar_height(len(frame)))
    )


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """Principal-component projection of row vectors to two dimensions (deterministic, no fitting state)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    if projected.shape[1] < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    # Fix each component's sign so reruns of the same data draw the same picture.
    signs = np.sign(projected[np.abs(projected).argmax(axis=0), range(2)])
    return projected * np.where(signs == 0, 1, signs)


def _sample(points: pd.DataFrame) -> pd.DataFrame:
    return points.sample(MAX_POINTS, random_state=0) if len(points) > MAX_POINTS else points
