// The interactive fan chart of one series, drawn with the Plotly served by this app.

import { escapeHtml, formatExact, formatRange, formatValue, unitWords } from "./format.js";

export const COLOURS = {
  figure: "#1f2937",
  preliminary: "#c2410c",
  mean: "#1d4ed8",
  band: [29, 78, 216],
  breakLine: "#c2410c",
};

/** Opacity of each band, widest level first; narrower bands sit on top and look darker. */
export function bandOpacities(levels) {
  const widestFirst = [...levels].sort((a, b) => b - a);
  return new Map(widestFirst.map((level, i) => [level, Math.min(0.16 + 0.1 * i, 0.5)]));
}

export function bandColour(opacity) {
  const [r, g, b] = COLOURS.band;
  return `rgba(${r}, ${g}, ${b}, ${opacity})`;
}

function wrap(text, width = 56) {
  const words = String(text).split(/\s+/);
  const lines = [];
  let line = "";
  for (const word of words) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.slice(0, 3).map(escapeHtml).join("<br>");
}

function historyTrace(figures, unit, preliminary) {
  const chosen = figures.filter((f) => f.preliminary === preliminary);
  return {
    type: "scatter",
    mode: "markers",
    name: preliminary ? "Preliminary figure" : "Figure",
    x: chosen.map((f) => f.year),
    y: chosen.map((f) => f.value),
    customdata: chosen.map((f) => [
      escapeHtml(formatExact(f.value, unit)),
      wrap(`Source: ${f.source.publisher} — ${f.source.title}`),
    ]),
    hovertemplate:
      `<b>%{x}</b>: %{customdata[0]}${preliminary ? " (preliminary)" : ""}` +
      "<br>%{customdata[1]}<extra></extra>",
    marker: preliminary
      ? { symbol: "circle-open", size: 10, color: COLOURS.preliminary, line: { width: 2 } }
      : { symbol: "circle", size: 7, color: COLOURS.figure },
  };
}

/** Traces for the bands and the mean; the fan starts at the last figure so it joins the history. */
function forecastTraces(forecast, figures, unit) {
  const points = forecast.forecast;
  const labels = forecast.levels.map(levelLabel);
  const last = figures.length ? figures[figures.length - 1] : null;
  const anchor = last && last.year < points[0].year ? [last] : [];
  const years = [...anchor.map((f) => f.year), ...points.map((p) => p.year)];
  const opacities = bandOpacities(forecast.levels);
  const bands = [...forecast.levels].sort((a, b) => b - a).map((level) => {
    const label = levelLabel(level);
    const lower = [...anchor.map((f) => f.value), ...points.map((p) => p.lower[label])];
    const upper = [...anchor.map((f) => f.value), ...points.map((p) => p.upper[label])];
    return {
      type: "scatter",
      mode: "lines",
      name: `${label}% interval`,
      x: [...years, ...[...years].reverse()],
      y: [...upper, ...[...lower].reverse()],
      fill: "toself",
      fillcolor: bandColour(opacities.get(level)),
      line: { width: 0 },
      hoverinfo: "skip",
    };
  });
  const meanLine = {
    type: "scatter",
    mode: "lines",
    name: "Forecast path",
    x: years,
    y: [...anchor.map((f) => f.value), ...points.map((p) => p.mean)],
    line: { color: COLOURS.mean, width: 2, dash: "dash" },
    hoverinfo: "skip",
  };
  const meanPoints = {
    type: "scatter",
    mode: "markers",
    name: "Forecast",
    x: points.map((p) => p.year),
    y: points.map((p) => p.mean),
    customdata: points.map((p) => [
      escapeHtml(formatExact(p.mean, unit)),
      labels.map((l) => `${l}%: ${escapeHtml(formatRange(p.lower[l], p.upper[l], unit))}`)
        .join("<br>"),
    ]),
    hovertemplate: "<b>%{x} forecast</b>: %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
    marker: { color: COLOURS.mean, size: 6 },
  };
  return [...bands, meanLine, meanPoints];
}

export function levelLabel(level) {
  return Number.isInteger(level) ? String(level) : String(Number(level.toPrecision(6)));
}

function breakMarkers(breaks) {
  const shapes = breaks.map((year) => ({
    type: "line", xref: "x", yref: "paper", x0: year - 0.5, x1: year - 0.5, y0: 0, y1: 1,
    line: { color: COLOURS.breakLine, width: 1.5, dash: "dot" },
  }));
  const annotations = breaks.map((year) => ({
    xref: "x", yref: "paper", x: year - 0.5, y: 1, xanchor: "right", yanchor: "top",
    text: `definition change ${year}`, textangle: -90, showarrow: false,
    font: { size: 10, color: COLOURS.breakLine },
  }));
  return { shapes, annotations };
}

/**
 * The top of the y axis when some interval is so wide that it would flatten the history:
 * the axis then stops at twice the largest figure or forecast, and the note says what runs off.
 * Returns null when everything fits comfortably.
 */
export function clippedTop(figures, forecast) {
  if (!forecast || !forecast.forecast.length) return null;
  const values = [...figures.map((f) => f.value), ...forecast.forecast.map((p) => p.mean)];
  const reference = Math.max(...values);
  const lowest = Math.min(...values, ...forecast.forecast.flatMap((p) => Object.values(p.lower)));
  const highest = Math.max(...forecast.forecast.flatMap((p) => Object.values(p.upper)));
  if (!(reference > 0) || lowest < 0 || highest <= 2.5 * reference) return null;
  return 2 * reference;
}

/**
 * Draw (or redraw in place) the fan chart; forecast may be null for a series without a model.
 * ``extra`` traces (a what-if) are drawn over the projection, under the figures.
 */
export function drawChart(element, { series, figures, forecast }, extra = []) {
  const unit = series.unit;
  const traces = [
    ...(forecast ? forecastTraces(forecast, figures, unit) : []),
    ...extra,
    historyTrace(figures, unit, false),
    historyTrace(figures, unit, true),
  ];
  const years = [...figures.map((f) => f.year), ...(forecast ? forecast.forecast.map((p) => p.year) : [])];
  const breaks = series.breaks.filter((year) => years.length && year > Math.min(...years));
  const { shapes, annotations } = breakMarkers(breaks);
  const compactYen = unit === "JPY";
  const top = clippedTop(figures, forecast);
  const layout = {
    autosize: true,
    showlegend: false,
    margin: { l: 64, r: 12, t: 12, b: 36 },
    font: { family: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size: 12, color: "#1f2937" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "#ffffff",
    hovermode: "closest",
    hoverlabel: { align: "left" },
    xaxis: {
      tickformat: "d", hoverformat: "d", gridcolor: "#e5e7eb", zeroline: false,
      range: years.length ? [Math.min(...years) - 0.7, Math.max(...years) + 0.7] : undefined,
    },
    yaxis: {
      title: { text: unitWords(unit), standoff: 6 }, rangemode: "tozero", gridcolor: "#e5e7eb",
      zeroline: true, zerolinecolor: "#9ca3af", separatethousands: true, automargin: true,
      tickprefix: compactYen ? "¥" : "", exponentformat: compactYen ? "B" : "none",
      hoverformat: ",.0f",
      ...(top ? { range: [0, top], autorange: false } : {}),
    },
    shapes,
    annotations,
  };
  const config = {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "sendChartToCloud"],
    // plotly.js 3 offers to upload the chart to Plotly Cloud by default: nothing leaves the page
    showSendToCloud: false,
    toImageButtonOptions: { filename: `${series.id}-fan-chart`, scale: 2 },
  };
  return window.Plotly.react(element, traces, layout, config).then(() => {
    if (!chartsKeptQuiet.has(element)) { // plotly redraws (and may rebuild) it on a mouse zoom
      element.on("plotly_afterplot", () => keepPlotlyQuiet(element));
      chartsKeptQuiet.add(element);
    }
    keepPlotlyQuiet(element);
  });
}

/** Charts whose plotly parts are kept quiet after each of plotly's redraws. */
const chartsKeptQuiet = new WeakSet();

/**
 * Plotly's toolbar stays for the mouse but out of the tab order: its 7 buttons a chart (77 on
 * the page) came before each card's own controls, faded out until hovered. Its SVG is hidden
 * from screen readers, which read its axis ticks as "img: 2005 2010 ...": the figure's label
 * and the projected-figures table it points to say what it shows. A keyboard user has that
 * table and the download links instead.
 */
function keepPlotlyQuiet(element) {
  for (const button of element.querySelectorAll(".modebar-btn")) button.tabIndex = -1;
  for (const container of element.querySelectorAll(".svg-container")) container.setAttribute("aria-hidden", "true");
}

/** Words that say what the chart shows, for screen readers (every number is in the tables). */
export function describeChart(series, figures, forecast) {
  const parts = [`Fan chart of ${series.title}.`];
  if (figures.length) {
    const first = figures[0];
    const last = figures[figures.length - 1];
    parts.push(`Figures from ${first.year} to ${last.year}; ${last.year}: ${formatValue(last.value, series.unit)}.`);
  }
  if (forecast && forecast.forecast.length) {
    const end = forecast.forecast[forecast.forecast.length - 1];
    // the 80% interval where it is shown, else the narrowest shown
    const level = forecast.levels.includes(80) ? 80 : Math.min(...forecast.levels);
    const label = levelLabel(level);
    const range = formatRange(end.lower[label], end.upper[label], series.unit);
    parts.push(`Forecast to ${end.year}: ${formatValue(end.mean, series.unit)} (${label}% interval ${range}).`);
  }
  return parts.join(" ");
}
