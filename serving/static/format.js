// Number formatting, a tiny DOM builder and the page's address, shared by the page's modules.

const counts = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const yenCompact = new Intl.NumberFormat("en", {
  style: "currency", currency: "JPY", notation: "compact", maximumFractionDigits: 1,
});
const yenFull = new Intl.NumberFormat("en", { style: "currency", currency: "JPY" });
const yenGiven = new Intl.NumberFormat("en", {
  style: "currency", currency: "JPY", notation: "compact", maximumFractionDigits: 3,
});
// another unit (percent, 百万円, per 100,000): whole numbers from 100, one decimal below it,
// so a column reads alike ("2,080" beside "4,074", not "4,074.49"; "98.0" beside "88.2")
const oneDecimal = new Intl.NumberFormat("en", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });

/** A figure in its unit, short enough for a chart label or a table cell. */
export function formatValue(value, unit) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  if (unit === "JPY") return Math.abs(value) >= 1e6 ? yenCompact.format(value) : yenFull.format(value);
  if (unit === "count") return counts.format(value);
  return `${(Math.abs(value) >= 100 ? counts : oneDecimal).format(value)} ${unit}`;
}

/** The full figure, e.g. for a hover label: "¥8,730,000,000" rather than "¥8.7B". */
export function formatExact(value, unit) {
  if (unit === "JPY") return yenFull.format(value);
  return formatValue(value, unit);
}

/**
 * A figure as a what-if was given, as the service's sentence says it: yen compact to the
 * million ("¥8.77B", where the page's short form reads "¥8.8B"), other units in full.
 */
export function formatGiven(value, unit) {
  return unit === "JPY" ? yenGiven.format(value) : formatExact(value, unit);
}

/** A range "lo – hi" in the unit. */
export function formatRange(lo, hi, unit) {
  return `${formatValue(lo, unit)} – ${formatValue(hi, unit)}`;
}

/** A share 0..1 as "83%". */
export function formatShare(share) {
  return `${percent.format(share * 100)}%`;
}

/** What the y axis measures, in words. */
export function unitWords(unit) {
  if (unit === "count") return "Number per year";
  if (unit === "JPY") return "Yen per year";
  return unit;
}

/** An ISO timestamp as "23 Nov 2026, 13:05 UTC" (the raw text if it does not parse). */
export function formatWhen(text) {
  const when = new Date(text);
  if (Number.isNaN(when.getTime())) return String(text);
  return when.toLocaleString("en-GB", {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: "UTC", timeZoneName: "short",
  });
}

/** Plotly hover text is HTML: escape what comes from the data. */
export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

/** Build an element: h("a", {href: "/x", class: "button"}, "text", child). No innerHTML. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// Han, kana, and the CJK punctuation and full-width forms written with them; a run goes on
// across the spaces, digits and ASCII punctuation between two such characters ("20万起").
const CJK = "\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u3000-\\u303f\\u30fb\\u30fc\\uff00-\\uffef";
const CJK_RUN = new RegExp(`[${CJK}](?:[\\s\\d.,:/-]*[${CJK}])*`, "gu");

/**
 * ``text`` as nodes for h() or append(), each run of Japanese or Chinese in a span whose lang
 * is the series' (zh-CN for China's, ja otherwise): under <html lang="en"> a screen reader
 * read 警察庁 or 公安部 with its English voice.
 */
export function markCjk(text, series) {
  const words = String(text);
  const lang = series.country === "CN" ? "zh-CN" : "ja";
  const nodes = [];
  let end = 0;
  for (const run of words.matchAll(CJK_RUN)) {
    if (run.index > end) nodes.push(words.slice(end, run.index));
    nodes.push(h("span", { lang }, run[0]));
    end = run.index + run[0].length;
  }
  if (end < words.length) nodes.push(words.slice(end));
  return nodes;
}

/** A link only when there is a URL; external links open in a new tab. */
export function sourceLink(url, text) {
  if (!url) return text;
  return h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, text);
}

/** A table with a caption, header row and body rows (caption and cells may be nodes or text). */
export function table(caption, headers, rows, { numeric = [] } = {}) {
  const head = h("tr", {}, headers.map((text, i) =>
    h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, text)));
  const body = rows.map((cells) => h("tr", {}, cells.map((cell, i) =>
    i === 0
      ? h("th", { scope: "row", class: numeric.includes(i) ? "num" : null }, cell)
      : h("td", { class: numeric.includes(i) ? "num" : null }, cell))));
  return h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body));
}

/**
 * Put ``params`` (URL-safe "name=value" texts) in the page's address in place of the ones
 * ``owned`` recognises, keeping every other parameter and the anchor: each part of the page
 * keeps its own state there, so a link reproduces the whole view.
 */
export function keepInAddress(owned, params) {
  const others = window.location.search.slice(1).split("&")
    .filter((part) => part && !owned(decodeURIComponent(part)));
  const query = [...others, ...params].join("&");
  const { pathname, hash } = window.location;
  window.history.replaceState(null, "", `${pathname}${query ? `?${query}` : ""}${hash}`);
}
