// The planner page: one card per series, fed by the JSON API, redrawn when the settings change.

import {
  candidatesTable, chartLegend, figuresTable, forecastTable, latestFigure, modelCardSection,
  noModelSection, trackRecordTable,
} from "./cards.js";
import { showChanges } from "./changes.js";
import { clippedTop, describeChart, drawChart, levelLabel } from "./chart.js";
import { formatRange, formatValue, h, keepInAddress, markCjk } from "./format.js";
import { refreshScenario, scenarioTraces, setUpWhatIf } from "./scenario.js";

const DEFAULTS = { horizon: 5, levels: [80, 95] };
const MAX_HORIZON = 15;
const LEVELS = [50, 80, 90, 95, 99];
const cards = new Map();
/** Why the last change of the controls, or what the address asked, was refused ("" when not). */
let refusal = "";
/** What the status last said of the forecasts ("Updating projections…", "Showing 5 years
 * ahead with 80% and 95% intervals."), beside which a refusal is said. */
let said = "";
let settings = readSettings();
let pending = null;

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `request failed with status ${status}`);
    this.status = status;
    this.hint = problem.hint;
  }
}

async function getJson(url, signal) {
  const response = await fetch(url, { signal, headers: { Accept: "application/json" } });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, problem);
  }
  return response.json();
}

/** Horizon and levels from the address (so a link shares the view), else the defaults; what
 * the address asked that the page cannot show is said in ``refusal`` (it had silently shown
 * 5 years under ?horizon=99). */
function readSettings() {
  const query = new URLSearchParams(window.location.search);
  const refused = [];
  let horizon = DEFAULTS.horizon;
  const askedHorizon = query.get("horizon");
  if (askedHorizon !== null) {
    const asked = Number(askedHorizon);
    if (!/^-?\d+$/.test(askedHorizon.trim())) {
      refused.push(`Horizon "${askedHorizon}" in the address is not a whole number of years: showing ${horizon}.`);
    } else if (asked < 1 || asked > MAX_HORIZON) {
      horizon = Math.min(Math.max(asked, 1), MAX_HORIZON); // the nearest the page shows
      refused.push(`Horizon ${asked} in the address is outside the page's 1–${MAX_HORIZON} years: showing ${horizon}.`);
    } else {
      horizon = asked;
    }
  }
  let levels = DEFAULTS.levels;
  const askedLevels = query.get("levels");
  if (askedLevels !== null) {
    const parts = askedLevels.split(",").map((part) => part.trim());
    const offered = parts.filter((part) => /^\d+$/.test(part) && LEVELS.includes(Number(part))).map(Number);
    const others = parts.filter((part) => !(/^\d+$/.test(part) && LEVELS.includes(Number(part))));
    if (offered.length) levels = [...new Set(offered)].sort((a, b) => a - b);
    if (others.length) {
      refused.push(`Interval levels ${others.map((part) => `"${part}"`).join(", ")} in the address are not ` +
        `among the page's ${percents(LEVELS, "or")}: showing ${percents(levels)} intervals.`);
    }
  }
  refusal = refused.join(" ");
  return { horizon, levels };
}

/** Levels read as a list: "50%, 80% and 95%" (or "... or 95%"), not "50% and 80% and 95%". */
function percents(levels, joiner = "and") {
  const words = levels.map((level) => `${level}%`);
  return words.length > 1 ? `${words.slice(0, -1).join(", ")} ${joiner} ${words.at(-1)}` : words[0];
}

function query() {
  return `horizon=${settings.horizon}&levels=${settings.levels.join(",")}`;
}

function setBusy(busy, message) {
  document.body.dataset.state = busy ? "updating" : "ready";
  document.getElementById("series-list").setAttribute("aria-busy", String(busy));
  if (message !== undefined) document.getElementById("status").textContent = message;
}

function buildCard(series) {
  const fragment = document.getElementById("series-card").content.cloneNode(true);
  const element = fragment.querySelector(".card");
  element.id = `series-${series.id}`;
  element.dataset.seriesId = series.id;
  element.setAttribute("aria-labelledby", `title-${series.id}`);
  const title = element.querySelector(".card-title");
  title.id = `title-${series.id}`;
  element.querySelector(".forecast-table").id = `forecast-table-${series.id}`;
  title.replaceChildren(...markCjk(series.title, series));
  // a series without a country or publisher read "· · unit: percent": only what it has is joined
  element.querySelector(".card-meta").append(
    ...markCjk([series.country, series.publisher, `unit: ${series.unit}`].filter(Boolean).join(" · "), series),
    series.definition ? h("span", { class: "definition" }, "What is counted: ", markCjk(series.definition, series)) : "",
  );
  element.querySelector(".latest").append(...latestFigure(series));
  return { series, element, figures: [], forecast: null, card: null, controller: null };
}

function renderChart(entry) {
  const chart = entry.element.querySelector(".chart");
  const { series, figures, forecast } = entry;
  if (!figures.length && !forecast) {  // a registered series before its first figure: no axes
    chart.replaceChildren(h("p", { class: "muted" }, "Nothing to draw until its first figure is added."));
    return Promise.resolve();
  }
  chart.setAttribute("aria-label", describeChart(series, figures, forecast));
  if (forecast) chart.setAttribute("aria-describedby", `forecast-table-${series.id}`);
  else chart.removeAttribute("aria-describedby");
  const note = entry.element.querySelector(".chart-note");
  note.replaceChildren(chartLegend(figures, forecast));
  const breaks = series.breaks.filter((y) => figures.some((f) => f.year < y));
  if (breaks.length) {
    note.append(h("p", { class: "muted" },
      `Dotted lines mark definition changes (${breaks.join(", ")}): figures on either side are not strictly comparable.`));
  }
  const top = clippedTop(figures, forecast);
  if (top) note.append(h("p", { class: "muted" }, clippedWords(series, forecast, top)));
  const missing = missingWords(series, forecast, new Date().getUTCFullYear());
  if (missing) note.append(h("p", { class: "muted missing-years" }, missing));
  return drawChart(chart, entry, scenarioTraces(entry));
}

/** The years a projection starts before this one covers have no figure yet: said as the
 * outlook brief says it (serving/outlook.py, ``missing``), so a 2023 projection of a series
 * last published for 2022 does not read as next year's. Where the store holds a figure for a
 * year the projection covers, no retrain has taken it in: said so (``stale_words``). */
function missingWords(series, forecast, thisYear) {
  if (!forecast || !forecast.forecast.length) return "";
  const first = forecast.forecast[0].year;
  if (series.latest && series.latest.year >= first) {
    return `This projection is from figures up to ${first - 1}: the ${series.latest.year} ` +
      "figure added since is not in it (no retrain has replaced it yet).";
  }
  const last = thisYear - 1;
  if (first > last) return "";
  const years = first === last ? String(first) : `${first}–${last}`;
  // this year's projection, as the brief's headline leads with it (not the past year's)
  const now = forecast.forecast.find((point) => point.year === thisYear);
  const labels = [...forecast.levels].sort((a, b) => a - b).map(levelLabel);
  const label = labels.includes("80") ? "80" : labels[0];
  const lead = now && label
    ? ` For ${thisYear} it is likely ${formatRange(now.lower[label], now.upper[label], series.unit)} (${label}%).`
    : "";
  return `No figure for ${years} has been added yet: the projection starts after the latest figure (${first - 1}).${lead}`;
}

function clippedWords(series, forecast, top) {
  const end = forecast.forecast[forecast.forecast.length - 1];
  const over = [...forecast.levels].sort((a, b) => a - b).map(levelLabel)
    .filter((label) => end.upper[label] > top)
    .map((label) => `the ${label}% interval ${formatValue(end.upper[label], series.unit)}`);
  return `The intervals run above the top of the chart: by ${end.year} ${over.join(" and ")}. ` +
    "The projected figures below list every bound.";
}

function renderForecast(entry) {
  const { element, series, forecast } = entry;
  const downloads = element.querySelector(".downloads");
  const details = element.querySelector(".forecast-details");
  details.hidden = !forecast;
  downloads.hidden = !forecast;
  if (!forecast) return;
  const base = `/v1/series/${encodeURIComponent(series.id)}/forecast`;
  const csv = downloads.querySelector(".download-csv");
  csv.href = `${base}.csv?${query()}`;
  // dated as the service names it, so a planner's downloads of different days stay apart
  csv.setAttribute("download", `${series.id}-forecast-${new Date().toISOString().slice(0, 10)}.csv`);
  csv.setAttribute("aria-label", `Download the forecast of ${series.title} as CSV`);
  const png = downloads.querySelector(".download-png");
  png.href = `${base}.png?${query()}`;
  png.setAttribute("download", `${series.id}-forecast.png`);
  png.setAttribute("aria-label", `Download the fan chart of ${series.title} as PNG`);
  element.querySelector(".forecast-table").replaceChildren(forecastTable(series, forecast));
  element.dataset.forecastPoints = String(forecast.forecast.length);
}

function renderModel(entry, hint) {
  const { element, series, card } = entry;
  const section = element.querySelector(".model-card");
  section.replaceChildren(...(series.champion ? modelCardSection(card, series.champion, series.unit)
    : noModelSection(hint, Boolean(entry.figures && entry.figures.length), series)));
  const record = (card && card.track_record) || series.track_record || [];
  const recordDetails = element.querySelector(".track-record-details");
  recordDetails.hidden = !record.length;
  if (record.length) element.querySelector(".track-record").replaceChildren(...trackRecordTable(series, record));
  const candidates = element.querySelector(".candidates-details");
  candidates.hidden = !(card && card.candidates.length);
  if (card && card.candidates.length) element.querySelector(".candidates-table").replaceChildren(candidatesTable(card));
  showChanges(element, series);
}

function showCardError(entry, message) {
  const section = entry.element.querySelector(".model-card");
  section.replaceChildren(h("p", { class: "notice error", role: "alert" }, message));
}

async function loadCard(entry) {
  const id = encodeURIComponent(entry.series.id);
  const hasModel = Boolean(entry.series.champion);
  const [figures, card, forecast] = await Promise.allSettled([
    getJson(`/v1/series/${id}/figures`),
    hasModel ? getJson(`/v1/models/${id}`) : Promise.resolve(null),
    hasModel ? getJson(`/v1/series/${id}/forecast?${query()}`) : Promise.resolve(null),
  ]);
  entry.figures = figures.status === "fulfilled" ? figures.value : [];
  entry.element.querySelector(".figures-table").replaceChildren(figuresTable(entry.series, entry.figures));
  entry.card = card.status === "fulfilled" ? card.value : null;
  entry.forecast = forecast.status === "fulfilled" ? forecast.value : null;
  const failed = [figures, card, forecast].find((r) => r.status === "rejected");
  // 409: no champion yet; 503: one that cannot be loaded (the hint says which)
  const noModel = failed && [409, 503].includes(failed.reason.status);
  if (noModel) entry.series = { ...entry.series, champion: null };
  renderModel(entry, failed && failed.reason.hint);
  if (failed && !noModel) showCardError(entry, `Could not load everything: ${failed.reason.message}`);
  renderForecast(entry);
  setUpWhatIf(entry, { settings: () => settings, redraw: () => renderChart(entry) });
  await refreshScenario(entry, settings);
  await renderChart(entry);
}

/** Fetch the forecast of every series with a model for the current settings, and redraw. */
async function refreshForecasts() {
  if (pending) pending.abort();
  const controller = new AbortController();
  pending = controller;
  setBusy(true, withRefusal("Updating projections…"));
  const jobs = [...cards.values()].filter((e) => e.series.champion).map(async (entry) => {
    const id = encodeURIComponent(entry.series.id);
    try {
      entry.forecast = await getJson(`/v1/series/${id}/forecast?${query()}`, controller.signal);
      await refreshScenario(entry, settings, controller.signal);
      if (entry.card && entry.card.champion.version !== entry.forecast.model.version) {
        // A new champion was promoted since the page loaded: its card changed too.
        entry.card = await getJson(`/v1/models/${id}`, controller.signal);
        entry.series = { ...entry.series, champion: entry.card.champion };
        renderModel(entry);
      }
    } catch (error) {
      if (error.name === "AbortError") throw error;
      entry.forecast = null;
      showCardError(entry, `Could not update the projection: ${error.message}`);
    }
    renderForecast(entry);
    await renderChart(entry);
  });
  try {
    await Promise.all(jobs);
  } catch (error) {
    if (error.name === "AbortError") return; // a newer change took over
    throw error;
  }
  const years = settings.horizon === 1 ? "1 year" : `${settings.horizon} years`;
  const showing = `Showing ${years} ahead with ${percents(settings.levels)} intervals.`;
  setBusy(false, withRefusal(showing));
}

/** A refused change stays said while refreshes for accepted ones start and end, and beside
 * what the status says of the forecasts: refused after the last refresh had ended, it had
 * replaced the whole status, and what was shown went unsaid. */
function withRefusal(message) {
  said = message;
  if (!refusal) return message;
  return message ? `${message} ${refusal}` : refusal;
}

function keepSettingsInAddress() {
  keepInAddress((part) => /^(horizon|levels)=/.test(part), query().split("&"));
}

function syncControls() {
  const horizon = document.getElementById("horizon");
  horizon.value = String(settings.horizon);
  document.getElementById("horizon-value").textContent = String(settings.horizon);
  horizon.setAttribute("aria-valuetext", `${settings.horizon} years ahead`);
  // the brief of every series for the years and intervals shown
  document.getElementById("outlook-pdf").href = `/v1/report.pdf?${query()}`;
  for (const box of document.querySelectorAll("input[name=level]")) {
    box.checked = settings.levels.includes(Number(box.value));
  }
}

function onSettingsChange(event) {
  const horizon = Number(document.getElementById("horizon").value);
  const levels = [...document.querySelectorAll("input[name=level]:checked")].map((b) => Number(b.value));
  if (!levels.length) {
    event.target.checked = true; // at least one interval stays shown
    refusal = "Keep at least one interval level.";
    document.getElementById("status").textContent = withRefusal(said);
    return;
  }
  refusal = "";
  settings = { horizon, levels };
  syncControls();
  keepSettingsInAddress();
  clearTimeout(onSettingsChange.timer);
  onSettingsChange.timer = setTimeout(refreshForecasts, 150);
}

// A series' short name for the contents: its title before an aside in brackets, or the whole
// title where nothing stands before one; its id too where two series would read the same.
function navLabels(seriesList) {
  const short = seriesList.map((s) => s.title.replace(/\s*[(（].*$/, "").trim() || s.title);
  const seen = new Map();
  short.forEach((label) => seen.set(label, (seen.get(label) || 0) + 1));
  return short.map((label, index) => (seen.get(label) > 1 ? `${label} (${seriesList[index].id})` : label));
}

function buildNav(seriesList) {
  const nav = document.getElementById("series-nav");
  const labels = navLabels(seriesList);
  // on a phone the row scrolls sideways: said, as only one name fits the screen
  nav.querySelector(".series-nav-hint").textContent = `${seriesList.length} series: scroll the row sideways for all of them`;
  nav.querySelector("ul").replaceChildren(...seriesList.map((s, index) =>
    h("li", {}, h("a", { href: `#series-${s.id}`, title: s.title }, markCjk(labels[index], s),
      s.champion ? null : h("span", { class: "muted" }, " · figures only")))));
  nav.hidden = false;
}

// Printed, every folded section shows (the projected figures had printed folded away), and
// each is folded back as it was once printing is done.
function unfoldForPrinting() {
  const folded = [...document.querySelectorAll("details:not([open])")];
  folded.forEach((details) => { details.open = true; });
  window.addEventListener("afterprint", () => folded.forEach((details) => { details.open = false; }), { once: true });
}

/** Keep the page's scroll padding the height of the sticky controls bar, which wraps to more
 * rows as the screen narrows: focus moved under a taller bar had been hidden by it. */
function padForControls() {
  const bar = document.getElementById("controls");
  const root = document.documentElement;
  new ResizeObserver(() => root.style.setProperty("--controls-height", `${bar.offsetHeight}px`)).observe(bar);
}

async function start() {
  document.documentElement.classList.remove("no-js");
  syncControls();
  if (refusal) { // the address says what is shown, not what was refused
    keepSettingsInAddress();
    document.getElementById("status").textContent = refusal;
  }
  padForControls();
  window.addEventListener("beforeprint", unfoldForPrinting);
  const form = document.getElementById("controls");
  form.addEventListener("input", onSettingsChange);
  form.addEventListener("submit", (event) => event.preventDefault());
  document.body.dataset.state = "loading";
  const list = document.getElementById("series-list");
  let seriesList;
  try {
    seriesList = await getJson("/v1/series");
  } catch (error) {
    const box = document.getElementById("load-error");
    box.textContent = `The series could not be loaded: ${error.message}`;
    box.hidden = false;
    list.replaceChildren();
    setBusy(false);
    return;
  }
  // Series with projections first; the API's order is kept within each group.
  seriesList = [...seriesList.filter((s) => s.champion), ...seriesList.filter((s) => !s.champion)];
  buildNav(seriesList);
  const entries = seriesList.map(buildCard);
  for (const entry of entries) cards.set(entry.series.id, entry);
  list.replaceChildren(...entries.map((e) => e.element));
  await Promise.all(entries.map((entry) => loadCard(entry).catch((error) => {
    showCardError(entry, `Could not load this series: ${error.message}`);
  })));
  const withModel = entries.filter((e) => e.series.champion).length;
  offerBrief(withModel);
  setBusy(false, withRefusal(`${entries.length} series, ${withModel} with projections.`));
  showLinkedCard();
}

/** The PDF link, unless the brief would hold more series than one request may draw: the
 * API would refuse it, and the browser save its refusal as the PDF. */
function offerBrief(projected) {
  const most = Number(document.querySelector(".header-actions").dataset.maxSeries);
  if (!(projected > most)) return;
  document.getElementById("outlook-pdf").hidden = true;
  document.getElementById("outlook-pdf-note").replaceChildren(
    `The outlook brief holds at most ${most} series and ${projected} have projections: `,
    h("code", {}, "fraudcast report --output outlook.pdf"),
    " writes one of them all, or ", h("code", {}, "--series"), " names those wanted.");
}

/** A link to one series (…/#series-ID) opens at its card: the cards did not exist when the
 * browser looked for the anchor, and their charts change the page's height as they load. */
function showLinkedCard() {
  const id = decodeURIComponent(window.location.hash.slice(1));
  const card = id ? document.getElementById(id) : null;
  if (card) card.scrollIntoView();
}

start();
