// "What if" under each chart: a hypothetical figure for a coming year, and the projection the
// champion's model, refitted on it (POST /v1/series/{id}/scenario), gives beside its own.
// The address keeps each card's what-if (?whatif=<series>:<year>:<value>), so a link
// reproduces it.

import { escapeHtml, formatExact, formatRange, h, keepInAddress } from "./format.js";
import { levelLabel } from "./chart.js";

const PARAM = "whatif";
/** Years after the last figure a what-if may set (the API's limit). */
const MAX_YEARS_AHEAD = 10;
export const SCENARIO_COLOUR = "#9333ea";

/** The what-ifs the address holds: series id -> {year, value}. */
function whatIfsInAddress() {
  const found = new Map();
  for (const text of new URLSearchParams(window.location.search).getAll(PARAM)) {
    const [id, year, value] = text.split(":");
    if (/^[a-z][a-z0-9_]*$/.test(id || "") && /^\d{4}$/.test(year || "") && Number.isFinite(parseValue(value))) {
      found.set(id, { year: Number(year), value: parseValue(value) });
    }
  }
  return found;
}

/** Keep this card's what-if in the address (or take it out). */
function keepWhatIf(seriesId, whatIf) {
  keepInAddress((part) => part.startsWith(`${PARAM}=${seriesId}:`),
    whatIf ? [`${PARAM}=${seriesId}:${whatIf.year}:${whatIf.value}`] : []);
}

/** Japanese multipliers a figure may be typed with: 2万 is 20,000, 1億2000万 120,000,000. */
const MYRIADS = /^(?:([0-9.]+)億)?(?:([0-9.]+)万)?([0-9.eE+-]*)$/;

/**
 * A figure as typed: "20000", "20,000", "2e4", or as a Japanese IME gives it: full-width
 * "２００００" (NFKC makes it "20000"), "20,000件", "2万", "3億円", "97％"; NaN when it is not a number.
 */
function parseValue(text) {
  const plain = String(text ?? "").normalize("NFKC").replace(/[\s,_]/g, "").replace(/[件円%]$/, "");
  const parts = MYRIADS.exec(plain);
  if (!plain || !parts) return Number.NaN;
  const [, oku, man, rest] = parts;
  if (!oku && !man) return /^[0-9.eE+-]+$/.test(rest) ? Number(rest) : Number.NaN;
  return Number(oku || 0) * 1e8 + Number(man || 0) * 1e4 + Number(rest || 0);
}

/**
 * Offer the years a what-if can be drawn for at ``horizon`` years ahead: the projection needs a
 * year after it (2030 at 5 years ahead of 2025 had been offered, and refused). The card's own
 * what-if keeps its year, said why it is not drawn.
 */
function offerYears(entry, horizon) {
  const { year, reach, submit } = entry.whatIfParts;
  const last = entry.figures[entry.figures.length - 1];
  const ahead = Math.max(0, Math.min(MAX_YEARS_AHEAD, horizon - 1));
  const years = Array.from({ length: ahead }, (_, i) => last.year + 1 + i);
  if (entry.whatIf && !years.includes(entry.whatIf.year)) years.push(entry.whatIf.year);
  years.sort((a, b) => a - b);
  const chosen = Number(year.value);
  year.replaceChildren(...years.map((y) => h("option", { value: String(y) }, String(y))));
  if (years.includes(chosen)) year.value = String(chosen);
  year.disabled = !years.length;
  submit.disabled = !years.length;
  reach.hidden = ahead > 0;
  reach.textContent = `At ${horizon} year${horizon === 1 ? "" : "s"} ahead no year is projected ` +
    "after a what-if: choose 2 or more years ahead to try one.";
}

function sentence(text) {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/**
 * Build the card's what-if field under its chart (once its figures are in) and take its
 * what-if from the address. ``redraw`` draws the card's chart again; ``settings`` returns the
 * page's current horizon and levels.
 */
export function setUpWhatIf(entry, { settings, redraw }) {
  const holder = entry.element.querySelector(".what-if");
  const last = entry.figures.length ? entry.figures[entry.figures.length - 1] : null;
  holder.hidden = !(entry.series.champion && last);
  if (holder.hidden) return;
  const id = entry.series.id;
  const year = h("select", { id: `what-if-year-${id}`, name: "year" });
  const value = h("input", {
    id: `what-if-value-${id}`, name: "value", type: "text", inputmode: "decimal",
    autocomplete: "off", placeholder: `e.g. ${Math.round(last.value)}`, size: "14",
    "aria-describedby": `what-if-result-${id}`,
  });
  const submit = h("button", { type: "submit", class: "button" }, "Draw");
  const clear = h("button", { type: "button", class: "button quiet", hidden: true }, "Clear");
  const reach = h("p", { class: "muted what-if-reach", hidden: true });
  const result = h("div", { id: `what-if-result-${id}`, class: "what-if-result", role: "status", "aria-live": "polite" });
  const form = h("form", { class: "what-if-form", "aria-label": `What if, for ${entry.series.title}` },
    h("span", { class: "what-if-label" }, "What if"),
    h("label", { for: year.id }, "in"), year,
    h("label", { for: value.id }, "the figure were"), value,
    submit, clear);
  holder.replaceChildren(form, reach, result);
  entry.whatIfParts = { year, value, submit, clear, reach, result };

  const kept = whatIfsInAddress().get(id);
  if (kept) {
    value.value = String(kept.value);
    entry.whatIf = kept;
  }
  offerYears(entry, settings().horizon);
  if (kept) year.value = String(kept.year);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = parseValue(value.value);
    value.setAttribute("aria-invalid", String(!Number.isFinite(typed)));
    if (!Number.isFinite(typed)) {
      showRefusal(entry, "Type the figure as a number, e.g. 20000 or 2万.");
      return;
    }
    entry.whatIf = { year: Number(year.value), value: typed };
    await refreshScenario(entry, settings());
    if (!entry.scenario) { // refused: a link must not bring it back, and a screen reader hears it
      keepWhatIf(id, null);
      value.setAttribute("aria-invalid", "true");
    }
    redraw();
  });
  clear.addEventListener("click", () => {
    entry.whatIf = null;
    entry.scenario = null;
    value.value = "";
    value.removeAttribute("aria-invalid");
    keepWhatIf(id, null);
    offerYears(entry, settings().horizon);
    show(entry);
    redraw();
  });
}

/** Fetch the card's scenario for these settings (nothing when it has no what-if). */
export async function refreshScenario(entry, { horizon, levels }, signal) {
  if (entry.whatIfParts) offerYears(entry, horizon);
  if (!entry.whatIf || !entry.whatIfParts) {
    entry.scenario = null;
    return;
  }
  const { year, value } = entry.whatIf;
  const last = entry.figures[entry.figures.length - 1];
  const ahead = last ? year - last.year : 0; // the what-if and the years it skips
  if (ahead >= horizon) { // the API would refuse it: say so without asking
    showRefusal(entry, `The ${horizon}-year horizon ends in ${last.year + horizon}, within the ` +
      `what-if's years: choose at least ${ahead + 1} years to see a projection after ${year}.`);
    return;
  }
  entry.element.dataset.scenario = "loading";
  const response = await fetch(`/v1/series/${encodeURIComponent(entry.series.id)}/scenario`, {
    method: "POST",
    signal,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ figures: [{ year, value }], horizon, levels }),
  }).catch((error) => {
    if (error.name === "AbortError") throw error;
    return null;
  });
  // a body cut off by a newer request (the horizon changed meanwhile) is not an answer
  const answer = response ? await response.json().catch((error) => {
    if (error.name === "AbortError") throw error;
    return {};
  }) : {};
  if (response && response.ok) {
    entry.scenario = answer;
    keepWhatIf(entry.series.id, entry.whatIf);
    show(entry);
  } else {
    entry.scenario = null;
    // the page sends one figure: "figures[0].value" is "the value" to whoever typed it
    const detail = String(answer.detail || "").replace(/figures\[0\]\.(year|value)/g, "the $1");
    showRefusal(entry, detail ? sentence(detail) : "The what-if could not be computed.");
  }
}

function show(entry) {
  const { clear, result } = entry.whatIfParts;
  const scenario = entry.scenario;
  clear.hidden = !entry.whatIf;
  entry.element.dataset.scenario = scenario ? "drawn" : "none";
  if (!scenario) {
    result.replaceChildren();
    return;
  }
  result.replaceChildren(
    h("p", { class: "what-if-comparison" },
      h("span", { class: "swatch what-if-line", style: `border-color:${SCENARIO_COLOUR}` }), " ",
      scenario.comparison),
    h("p", { class: "muted what-if-basis" }, sentence(scenario.basis), " On the chart: ◇ the ",
      "assumed figure, dash-dot the projection with it, dotted its ",
      `${levelLabel(Math.max(...scenario.levels))}% interval.`),
  );
}

function showRefusal(entry, message) {
  entry.scenario = null;
  entry.element.dataset.scenario = "refused";
  entry.whatIfParts.clear.hidden = !entry.whatIf;
  entry.whatIfParts.result.replaceChildren(h("p", { class: "notice error" }, message));
}

/** Plotly traces of the card's scenario: its line from the last figure through the assumed
 * figures and the refitted projection, its widest interval's bounds, and hover labels. */
export function scenarioTraces({ scenario, figures, series }) {
  if (!scenario || !figures.length) return [];
  const last = figures[figures.length - 1];
  const points = scenario.forecast;
  const given = new Set(scenario.assumptions.map((f) => f.year));
  const taken = new Set([...given, ...scenario.filled.map((f) => f.year)]);
  const projected = points.filter((p) => !taken.has(p.year));
  const widest = levelLabel(Math.max(...scenario.levels));
  const from = points.filter((p) => taken.has(p.year)).slice(-1);
  const bound = (side) => ({
    type: "scatter",
    mode: "lines",
    name: `What if: ${widest}% interval`,
    x: [...from, ...projected].map((p) => p.year),
    y: [...from.map((p) => p.mean), ...projected.map((p) => p[side][widest])],
    line: { color: SCENARIO_COLOUR, width: 1, dash: "dot" },
    opacity: 0.7,
    hoverinfo: "skip",
  });
  const labels = scenario.levels.map(levelLabel);
  return [
    bound("lower"),
    bound("upper"),
    {
      type: "scatter",
      mode: "lines",
      name: "What if",
      x: [last.year, ...points.map((p) => p.year)],
      y: [last.value, ...points.map((p) => p.mean)],
      line: { color: SCENARIO_COLOUR, width: 2.5, dash: "dashdot" },
      hoverinfo: "skip",
    },
    {
      type: "scatter",
      mode: "markers",
      name: "What if: assumed figure",
      x: points.filter((p) => given.has(p.year)).map((p) => p.year),
      y: points.filter((p) => given.has(p.year)).map((p) => p.mean),
      customdata: points.filter((p) => given.has(p.year)).map((p) => escapeHtml(formatExact(p.mean, series.unit))),
      hovertemplate: "<b>%{x} what if</b>: %{customdata} (assumed)<extra></extra>",
      marker: { symbol: "diamond-open", size: 12, color: SCENARIO_COLOUR, line: { width: 2.5 } },
    },
    {
      type: "scatter",
      mode: "markers",
      name: "What if: projection",
      x: projected.map((p) => p.year),
      y: projected.map((p) => p.mean),
      customdata: projected.map((p) => [
        escapeHtml(formatExact(p.mean, series.unit)),
        labels.map((l) => `${l}%: ${escapeHtml(formatRange(p.lower[l], p.upper[l], series.unit))}`).join("<br>"),
      ]),
      hovertemplate: "<b>%{x} what if</b>: %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
      marker: { color: SCENARIO_COLOUR, size: 6, symbol: "diamond" },
    },
  ];
}
