// "What if" under each chart: a hypothetical figure for a coming year, and the projection the
// champion's model, refitted on it (POST /v1/series/{id}/scenario), gives beside its own.
// The address keeps each card's what-if (?whatif=<series>:<year>:<value>), so a link
// reproduces it.

import { escapeHtml, formatExact, formatGiven, formatRange, formatValue, h, keepInAddress } from "./format.js";
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
/** English scales, as the page writes yen ("¥127.5B") and a planner says it ("102 billion"). */
const SCALES = { k: 1e3, thousand: 1e3, m: 1e6, mn: 1e6, million: 1e6, b: 1e9, bn: 1e9, billion: 1e9, t: 1e12, tn: 1e12, trillion: 1e12 };
const SCALED = new RegExp(`^([0-9.]+)(${Object.keys(SCALES).join("|")})$`, "i");
/** A change on the projection, typed with its sign: "-20%", "+15%" ("－２０％" by an IME). */
const CHANGE = /^([+-])([0-9.]+)%$/;

/** What was typed, NFKC-normalised ("２万" is "2万", "￥" "¥") without spaces and separators. */
function plainTyped(text) {
  return String(text ?? "").normalize("NFKC").replace(/[\s,_]/g, "").replace(/^[\u2212\u2013]/, "-");
}

/**
 * A figure as typed: "20000", "20,000", "2e4", as the page writes it ("¥127.5B", "102 billion",
 * "3.2M") or as a Japanese IME gives it: full-width "２００００" (NFKC makes it "20000"),
 * "20,000件", "2万", "3億円", "97％"; NaN when it is not a number.
 */
function parseValue(text) {
  const plain = plainTyped(text).replace(/^¥/, "").replace(/(?:[件円%]|yen)$/i, "");
  const scaled = SCALED.exec(plain);
  if (scaled) return /^\d*\.?\d+$/.test(scaled[1]) ? Number(scaled[1]) * SCALES[scaled[2].toLowerCase()] : Number.NaN;
  const parts = MYRIADS.exec(plain);
  if (!plain || !parts) return Number.NaN;
  const [, oku, man, rest] = parts;
  if (!oku && !man) return /^[0-9.eE+-]+$/.test(rest) ? Number(rest) : Number.NaN;
  return Number(oku || 0) * 1e8 + Number(man || 0) * 1e4 + Number(rest || 0);
}

/** The forms a figure of this unit may be typed in, for a refusal to name. */
function typedForms(unit) {
  const change = " or a change on the year's projection with its sign, e.g. -20% or +15%";
  if (unit === "JPY") return `Type yen as 102000000000, ¥102,000,000,000, 102B, 102 billion or 1020億,${change}.`;
  if (unit === "count") return `Type the number as 8000, 8,000, 8k or 0.8万,${change}.`;
  return `Type the figure as a number, e.g. 97.5 or 97.5%,${change}.`;
}

/**
 * The what-if figure ``text`` asks for in ``year``: {value, note} where ``note`` says how
 * it was read ("-20%" on the year's projection, a fraction of a count rounded), or {refusal}.
 */
function readWhatIf(text, year, { series, forecast }) {
  const unit = series.unit;
  const whole = unit === "count" || unit === "JPY"; // no half cases, no fraction of a yen
  const change = CHANGE.exec(plainTyped(text));
  if (change && /^\d*\.?\d+$/.test(change[2])) {
    const percent = Number(`${change[1]}${change[2]}`);
    const projected = forecast ? forecast.forecast.find((p) => p.year === year) : null;
    if (!projected) {
      return { refusal: `A change in % is taken on the projection for the year, and ${year} has none ` +
        "at these years ahead: type the figure itself." };
    }
    // to 3 significant figures, as the projection is worth taking (not ¥108,282,410,297)
    const value = Number((projected.mean * (1 + percent / 100)).toPrecision(3));
    if (value < 0) return { refusal: `${percent}% of the projection would be below 0: a figure is never negative.` };
    return { value, note: `${change[1]}${change[2]}% on the ${year} projection (${formatValue(projected.mean, unit)}) ` +
      `is ${formatGiven(value, unit)}.` };
  }
  const typed = parseValue(text);
  if (!Number.isFinite(typed)) return { refusal: typedForms(unit) };
  if (typed < 0) {
    return { refusal: "A figure is never below 0. For a fall from the projection, type the change " +
      "in % with its sign, e.g. -20%." };
  }
  if (whole && !Number.isInteger(typed)) {
    const value = Math.round(typed);
    const what = unit === "count" ? "A count is whole" : "Yen are whole";
    return { value, note: `${what}: ${String(text).trim()} is taken as ${formatExact(value, unit)}.` };
  }
  return { value: typed, note: "" };
}

/** A short example of the last figure in the field, as it may be typed ("¥127.5B", "9,538"). */
function example(value, unit) {
  return `e.g. ${unit === "JPY" || unit === "count" ? formatValue(value, unit) : Number(value.toFixed(1))}`;
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
    autocomplete: "off", placeholder: example(last.value, entry.series.unit), size: "14",
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
  // refused before it is asked for (unreadable, negative) or by the service: what was drawn
  // before goes, a link does not bring it back, and a screen reader hears it
  const refused = (message) => {
    entry.whatIf = null;
    keepWhatIf(id, null);
    value.setAttribute("aria-invalid", "true");
    if (message) showRefusal(entry, message);
    redraw();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = readWhatIf(value.value, Number(year.value), entry);
    if (typed.refusal) {
      refused(typed.refusal);
      return;
    }
    value.setAttribute("aria-invalid", "false");
    entry.whatIf = { year: Number(year.value), value: typed.value, note: typed.note };
    await refreshScenario(entry, settings());
    if (!entry.scenario) {
      refused("");
      return;
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
    // and the series is the card's, not its id ("figures of jp_sns_investment_fraud_losses_jpy")
    const detail = String(answer.detail || "").replace(/figures\[0\]\.(year|value)/g, "the $1")
      .replaceAll(entry.series.id, "this series");
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
    entry.whatIf.note ? h("p", { class: "what-if-typed" }, entry.whatIf.note) : "",
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
