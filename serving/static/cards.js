// The parts of a series card around the chart: latest figure, model card, tables, legend.

import { COLOURS, bandColour, bandOpacities, levelLabel } from "./chart.js";
import {
  formatExact, formatRange, formatShare, formatValue, formatWhen, h, markCjk, sourceLink, table,
} from "./format.js";

/** The latest figure with its source. */
// What a borrowed (short) series' own backtests can say: a count, and that it is too few.
function borrowedEvidence(levels, checked) {
  const start = h("strong", {}, "A rough indication: ");
  if (!checked || !levels.length) {
    return [start, "too few years to test its intervals on its own figures; they are borrowed from comparable series."];
  }
  const held = levels.map(([label, share]) => `${Math.round(share * checked)} inside the ${label}% interval`);
  const list = held.length > 1 ? `${held.slice(0, -1).join(", ")} and ${held[held.length - 1]}` : held[0];
  return [start, `of the ${checked} backtest forecast${checked === 1 ? "" : "s"} its years allow, ${list}: ` +
    "too few to judge its intervals by. They are borrowed from comparable series."];
}

export function latestFigure(series) {
  const latest = series.latest;
  if (!latest) return [h("h3", {}, "Latest figure"), h("p", {}, "No figures yet.")];
  return [
    h("h3", {}, "Latest figure"),
    h("p", { class: "latest-value" },
      h("span", { class: "big" }, formatValue(latest.value, series.unit)),
      ` in ${latest.year}`,
      latest.preliminary ? h("span", { class: "badge" }, "preliminary") : null),
    h("p", { class: "latest-source" }, "Source: ",
      sourceLink(latest.source.url, markCjk(latest.source.title, series)),
      " (", markCjk(latest.source.publisher, series), ")"),
  ];
}

/**
 * How far off the model typically was, in words, and which backtest metric that rests on.
 * Prefers a one-year-ahead percentage error; falls back to sMAPE over all horizons.
 */
export function typicalError(metrics, unit = "") {
  // a percentage error is undefined at a figure of 0 and says little near it (Hyndman &
  // Koehler 2006): a county's 0, 1, 0, 0, 2 murders read "off by more than a factor of 10"
  // beside a projection of 0, so where a backtest figure was 0 the error is said in its units
  if (metrics.zero_figures > 0 && Number.isFinite(metrics.mae_h1)) {
    const small = unit === "count" && metrics.mae_h1 < 10;
    const amount = small ? metrics.mae_h1.toFixed(1).replace(/\.0$/, "") : formatValue(metrics.mae_h1, unit);
    return {
      text: `Typically off by about ${amount} one year ahead`,
      basis: "mean absolute error one year ahead, in the figures' own units (some backtest " +
        "figures were 0, where a percentage error says nothing)",
    };
  }
  const oneYear = [["smape_h1", "sMAPE one year ahead"], ["mape_h1", "MAPE one year ahead"]];
  for (const [key, name] of oneYear) {
    if (Number.isFinite(metrics[key])) {
      return { text: typically(metrics[key], key.startsWith("smape"), "one year ahead"), basis: name };
    }
  }
  if (Number.isFinite(metrics.smape)) {
    const closer = Number.isFinite(metrics.mase_h1) && Number.isFinite(metrics.mase) &&
      metrics.mase_h1 < metrics.mase;
    return {
      text: typically(metrics.smape, true, "of the figure that came in", "from the figure that came in"),
      basis: "sMAPE averaged over every backtest horizon" +
        (closer ? "; one year ahead its errors were smaller than this average" : ""),
    };
  }
  return null;
}

/**
 * A typical percentage error in words. A large sMAPE is not "within N%": sMAPE 61% means off by
 * a factor of about 1.9 either way (|a - f| / mean(a, f) = 0.61), so it is said as that factor.
 */
function typically(percent, symmetric, within, off = within) {
  if (!symmetric || percent < 20) return `Typically within ${roundPercent(percent)} ${within}`;
  // sMAPE is at most 200%: near it the factor is beyond telling
  if (percent >= 180) return `Typically off by more than a factor of 10 ${off}`;
  const factor = (200 + percent) / (200 - percent);
  return `Typically off by a factor of about ${factor.toFixed(1)} ${off}`;
}

function roundPercent(value) {
  return `${value < 10 ? value.toFixed(1).replace(/\.0$/, "") : Math.round(value)}%`;
}

function naiveComparison(metrics) {
  const oneYear = Number.isFinite(metrics.mase_h1);
  const value = oneYear ? metrics.mase_h1 : metrics.mase;
  if (!Number.isFinite(value)) return null;
  // MASE divides the error by the series' typical year-to-year change before the forecast origin;
  // below 1 is not "beats guessing the last value": after a burst the last value's own errors
  // dwarf the changes before it (the reason compares with naive's error itself).
  const ratio = value.toFixed(2);
  const when = oneYear ? "One year ahead, its" : "Its";
  return `${when} errors were ${ratio}× the typical year-to-year change in the figures ` +
    `(MASE${oneYear ? " at 1 year" : ""} ${ratio}; 1 means errors as large as the typical change up to the forecast).`;
}

/** The plain-words model card: which model, how accurate, how honest its intervals, when. */
export function modelCardSection(card, champion, unit = "") {
  const model = card ? card.champion : champion;
  const selected = card ? card.candidates.find((c) => c.selected) : null;
  const metrics = { ...(selected ? selected.metrics : {}) };
  if (!Number.isFinite(metrics.mase) && Number.isFinite(model.backtest_mase)) metrics.mase = model.backtest_mase;
  const items = [];
  const error = typicalError(metrics, unit);
  if (error) items.push(h("li", {}, h("strong", {}, `${error.text}.`), ` Based on: ${error.basis}.`));
  const naive = naiveComparison(metrics);
  if (naive) items.push(h("li", {}, naive));
  const checked = Number.isInteger(model.backtest_forecasts) ? model.backtest_forecasts : null;
  const levels = Object.entries(model.coverage || {}).sort((a, b) => a[0] - b[0]);
  if (model.intervals_borrowed) {
    // a short series' intervals are borrowed from comparable series; its own few backtest
    // forecasts are counted, not given as a rate ("0% of the time" read as a verdict)
    items.push(h("li", {}, borrowedEvidence(levels, checked)));
  }
  for (const [label, share] of model.intervals_borrowed ? [] : levels) {
    // the coverage of calibrated intervals, each backtest figure's origin and year held out of
    // its calibration;
    // the count says how much evidence the share rests on (3 of 3 is not 30 of 30)
    const count = checked ? ` (${Math.round(share * checked)} of ${checked} backtest forecasts)` : "";
    items.push(h("li", {}, "In backtests, " + `${label}% intervals calibrated on its own backtest errors contained ` +
      "the figure that came in ", h("strong", {}, formatShare(share)), ` of the time${count}.`));
  }
  // the store revision its figures stood as of, as the brief's cover and `figures history`
  // name revisions; the hash of its figures beside it
  const asOf = model.figures_revision == null ? "" : ` as of revision ${model.figures_revision}`;
  items.push(h("li", {}, `Trained ${formatWhen(model.trained_at)} on the figures${asOf} `,
    h("code", { title: `hash of the figures: ${model.data_revision}` },
      String(model.data_revision).slice(0, 12)), "."));
  const parts = [
    h("h3", {}, "About this projection"),
    h("p", { class: "model-name" }, "Model: ", h("strong", {}, model.name),
      model.description ? ` — ${model.description}` : "", ` (registered version ${model.version})`),
    h("ul", { class: "facts" }, items),
  ];
  if (card && card.reason) parts.push(h("p", { class: "reason" }, `Why this model: ${card.reason}`));
  if (card && card.notes && card.notes.length) {
    parts.push(h("ul", { class: "notes" }, card.notes.map((note) => h("li", {}, note))));
  }
  if (card && card.mlflow_experiment_url) {
    parts.push(h("p", {}, h("a", { href: card.mlflow_experiment_url, rel: "noopener", target: "_blank" },
      "Compare the candidate models in MLflow")));
  }
  return parts;
}

/** What to show instead of a model card when a series has no champion yet: without figures,
 * there is nothing to train until they are added. */
export function noModelSection(hint, hasFigures = true, series = {}) {
  if (series.champion_problem) { // registered, but its model could not be loaded: not "untrained"
    return [
      h("h3", {}, "Projection unavailable"),
      h("p", {}, `Its model is registered but could not be loaded (${series.champion_problem}), ` +
        "so only its figures are shown."),
      h("p", { class: "hint" }, "Restore its files in MLflow's artifact store where MLflow recorded " +
        `them (they are served within seconds), or retrain it: \`fraudcast train --force -s ${series.id}\`.`),
    ];
  }
  if (!hasFigures) {
    return [
      h("h3", {}, "No figures yet"),
      h("p", { class: "hint" }, "Add its figures (`fraudcast figures add`, or POST /v1/figures with the token); " +
        "it is trained when they arrive."),
    ];
  }
  return [
    h("h3", {}, "No projection yet"),
    h("p", {}, "No model has been trained for this series yet, so only its figures are shown."),
    h("p", { class: "hint" }, hint || "To train it: run `fraudcast train` (or POST /v1/retrain with the token)."),
  ];
}

/** The legend under the chart, in HTML so it never overlaps the plot on a narrow screen. */
export function chartLegend(figures, forecast) {
  const entries = [h("li", {}, h("span", { class: "swatch dot", style: `background:${COLOURS.figure}` }), "Figure")];
  if (figures.some((f) => f.preliminary)) {
    entries.push(h("li", {}, h("span", { class: "swatch ring", style: `border-color:${COLOURS.preliminary}` }),
      "Preliminary figure"));
  }
  if (forecast) {
    entries.push(h("li", {}, h("span", { class: "swatch dash", style: `border-color:${COLOURS.mean}` }), "Forecast"));
    const opacities = bandOpacities(forecast.levels);
    let cumulative = 0;
    for (const level of [...forecast.levels].sort((a, b) => b - a)) {
      // A narrower band is drawn over the wider ones, so its swatch shows the stacked shade.
      cumulative = 1 - (1 - cumulative) * (1 - opacities.get(level));
      entries.push(h("li", {}, h("span", { class: "swatch band", style: `background:${bandColour(cumulative.toFixed(3))}` }),
        `${levelLabel(level)}% interval`));
    }
  }
  return h("ul", { class: "legend", "aria-label": "Chart legend" }, entries);
}

/** The forecast numbers, as a table that doubles as the chart's accessible alternative. */
export function forecastTable(series, forecast) {
  const labels = forecast.levels.map(levelLabel);
  const rows = forecast.forecast.map((p) => [
    String(p.year), formatValue(p.mean, series.unit),
    ...labels.map((l) => formatRange(p.lower[l], p.upper[l], series.unit)),
  ]);
  return table(
    ["Projections for ", ...markCjk(series.title, series), ` by ${forecast.model.name}`],
    ["Year", "Projection", ...labels.map((l) => `${l}% interval`)],
    rows,
    { numeric: [1, ...labels.map((_, i) => i + 2)] },
  );
}

/** Every figure with its full provenance. */
export function figuresTable(series, figures) {
  const rows = [...figures].reverse().map((f) => [
    String(f.year),
    formatExact(f.value, series.unit),
    f.status,
    h("span", {}, sourceLink(f.source.url, markCjk(f.source.title, series)), h("br"),
      h("span", { class: "muted" }, markCjk(f.source.publisher, series))),
    f.source.accessed_via,
    markCjk(f.source.note || "", series),
    String(f.revision_id),
  ]);
  return table(
    ["Figures for ", ...markCjk(series.title, series), ", newest first"],
    ["Year", "Figure", "Status", "Source", "Via", "Note", "Revision"],
    rows,
    { numeric: [1, 6] },
  );
}

/** The candidates compared in backtests, the champion marked. */
export function candidatesTable(card) {
  const number = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : "—");
  const share = (v) => (Number.isFinite(v) ? formatShare(v) : "—");
  const rows = card.candidates.map((c) => [
    c.selected ? h("span", {}, c.model, " ", h("span", { class: "badge" }, "chosen")) : c.model,
    number(c.metrics.mase), number(c.metrics.mase_h1), number(c.metrics.smape, 1),
    share(c.metrics.calibrated_coverage_80), share(c.metrics.calibrated_coverage_95), c.error || "",
  ]);
  // the chosen model can rank below others here: it is chosen on comparable series' pooled
  // backtests too ("Why this model"), and the card's "typically within" is one year ahead
  return table(
    "This series' own backtests per candidate (lower MASE and sMAPE are better; averaged over " +
      "every year ahead, MASE 1 yr one year ahead; coverage of its calibrated intervals should " +
      "be near the level). The choice also weighs the pooled backtests of comparable series: " +
      "see \u201cWhy this model\u201d.",
    ["Model", "MASE all years", "MASE 1 yr", "sMAPE % all years", "80% coverage", "95% coverage", "Error"],
    rows,
    { numeric: [1, 2, 3, 4, 5] },
  );
}

function pick(item, ...names) {
  for (const name of names) if (item[name] !== undefined && item[name] !== null) return item[name];
  return undefined;
}

function bound(item, side, label) {
  const nested = item[side === "lo" ? "lower" : "upper"];
  if (nested && nested[label] !== undefined) return nested[label];
  return pick(item, `${side}_${label}`, `${side}-${label}`, `${side}${label}`);
}

/** Earlier forecasts beside the figures that came in later (fields tolerated in a few spellings). */
export function trackRecordTable(series, record) {
  const verdict = (item) => {
    const in80 = pick(item, "inside_80");
    const in95 = pick(item, "inside_95");
    if (in80 === true) return "inside the 80% interval";
    if (in95 === true) return "inside 95%, outside 80%";
    if (in95 === false) return h("strong", { class: "surprise" }, "outside 95% — a surprise");
    return in80 === false ? "outside 80%" : "—";
  };
  const range = (item, label) => {
    const lo = bound(item, "lo", label);
    const hi = bound(item, "hi", label);
    return Number.isFinite(lo) && Number.isFinite(hi) ? formatRange(lo, hi, series.unit) : "—";
  };
  const rows = [...record].sort((a, b) => b.year - a.year).map((item) => [
    String(item.year),
    formatValue(pick(item, "actual", "value"), series.unit),
    formatValue(pick(item, "mean", "forecast", "forecast_mean"), series.unit),
    range(item, "80"), range(item, "95"), verdict(item),
  ]);
  const inside = record.filter((item) => item.inside_80 === true).length;
  return [
    h("p", {}, `${inside} of ${record.length} figure${record.length === 1 ? "" : "s"} came in inside the 80% interval forecast before it was published.`),
    table(
      ["Track record of ", ...markCjk(series.title, series), ": what was forecast before each figure came in"],
      ["Year", "Figure that came in", "Forecast", "80% interval", "95% interval", "Result"],
      rows,
      { numeric: [1, 2, 3, 4] },
    ),
  ];
}
