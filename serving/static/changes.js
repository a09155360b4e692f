// A card's "What changed" section: each retrain that moved the projection, newest first, from
// GET /v1/series/{id}/changes — the figures that arrived or were revised, the change in words,
// and the old and new projection for the same years.

import { formatValue, formatWhen, h, markCjk, sourceLink, table } from "./format.js";

/** Fill the card's "What changed" section; a series without a model has none. */
export async function showChanges(element, series) {
  const section = element.querySelector(".changes");
  if (!section) return;
  section.hidden = !series.champion;
  if (!series.champion) return;
  try {
    const response = await fetch(`/v1/series/${encodeURIComponent(series.id)}/changes`,
      { headers: { Accept: "application/json" } });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || `request failed with status ${response.status}`);
    section.replaceChildren(...changesSection(series, answer));
  } catch (error) {
    section.replaceChildren(h("h3", {}, "What changed"),
      h("p", { class: "notice error" }, `Could not load what changed: ${error.message}`));
  }
}

/** The section's content: a message when nothing changed yet, else the changes newest first. */
export function changesSection(series, answer) {
  const heading = h("h3", {}, "What changed");
  if (!answer.changes.length) return [heading, h("p", { class: "muted" }, answer.message || "No changes yet.")];
  return [heading, h("ol", { class: "change-list" }, answer.changes.map((change) => changeItem(series, change)))];
}

function changeItem(series, change) {
  const model = change.model_changed
    ? `model ${change.previous_model} → ${change.model}`
    : `same model (${change.model}), refitted`;
  return h("li", { class: "change", dataset: { version: change.version } },
    h("p", { class: "change-when muted" },
      `Retrained ${formatWhen(change.trained_at)} · version ${change.previous_version} → ${change.version} · ${model}`),
    h("p", { class: "change-summary" }, change.summary),
    change.figures.length ? h("ul", { class: "change-figures" }, change.figures.map((f) => figureItem(series, f))) : null,
    h("details", { class: "change-projection" },
      h("summary", {}, "Old and new projection"),
      h("div", { class: "table-wrap" }, projectionTable(series, change))));
}

function figureItem(series, figure) {
  const value = formatValue(figure.value, series.unit);
  if (figure.kind === "withdrawn") {
    const was = formatValue(figure.previous_value, series.unit);
    return h("li", {}, h("strong", {}, `${figure.year}: ${was} withdrawn`),
      ` ${formatWhen(figure.added_at)} — ${figure.message}`);
  }
  const what = figure.kind === "revised"
    ? `${figure.year}: revised from ${formatValue(figure.previous_value, series.unit)} to ${value}`
    : `${figure.year}: ${value} came in`;
  const forecast = Number.isFinite(figure.projected)
    ? ` (forecast ${formatValue(figure.projected, series.unit)})` : "";
  return h("li", {}, h("strong", {}, what), forecast, " — ",
    sourceLink(figure.source.url, markCjk(figure.source.title, series)),
    " (", markCjk(figure.source.publisher, series), `), added ${formatWhen(figure.added_at)}`);
}

function projectionTable(series, change) {
  const rows = change.projection.map((year) => [
    String(year.year),
    formatValue(year.before.mean, series.unit),
    formatValue(year.after.mean, series.unit),
    Number.isFinite(year.change) ? `${year.change > 0 ? "+" : ""}${(year.change * 100).toFixed(1)}%` : "—",
  ]);
  return table(
    ["Projection of ", ...markCjk(series.title, series), ` before and after version ${change.version}`],
    ["Year", `Before (version ${change.previous_version})`, `After (version ${change.version})`, "Change"],
    rows,
    { numeric: [1, 2, 3] },
  );
}
