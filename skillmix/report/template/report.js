// The SKILL-MIX report page. Everything it shows comes from the JSON in #report-data and the compressed
// chunks; every string from there enters the DOM as text (textContent / text nodes / attribute values),
// never as markup, because answers and grader replies are untrusted model output.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const METRICS = DATA.metric_names;
  const TITLES = { full_marks: "full marks", all_skills: "all skills", skills_fraction: "skills fraction" };
  const PALETTE = ["#2457c5", "#d1495b", "#1a7f37", "#9a6700", "#7b3fbf", "#0b7a8a", "#c05621", "#4a5568"];
  const PAGE_SIZE = 20;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const F = Object.fromEntries(DATA.item_fields.map((name, index) => [name, index]));
  const L = DATA.lookups;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    setAttributes(node, attributes);
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttributes(node, attributes);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function setAttributes(node, attributes) {
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.setAttribute("class", value);
      else node.setAttribute(name, String(value));
    }
  }
  function fixed(value) { return value === null || value === undefined ? "–" : Number(value).toFixed(3); }
  function withSe(value, se) {
    if (value === null || value === undefined) return "–";
    return se === null || se === undefined ? fixed(value) : fixed(value) + " ± " + fixed(se);
  }
  function signed(value, se) {
    if (value === null || value === undefined) return "–";
    const text = (value >= 0 ? "+" : "") + fixed(value);
    return se === null || se === undefined ? text : text + " ± " + fixed(se);
  }
  function formatValue(value) {
    if (value === null || value === undefined) return "–";
    if (Array.isArray(value)) return "[" + value.map(formatValue).join(", ") + "]";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : fixed(value);
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }
  function formatP(value) {
    if (typeof value !== "number") return formatValue(value);
    return value < 0.001 ? "< 0.001" : value.toPrecision(2);
  }
  function checkpointLabel(checkpoint) {
    if (checkpoint === null || checkpoint === undefined) return "–";
    return /^[0-9]+$/.test(checkpoint) ? (Number(checkpoint) === 0 ? "step 0 (base)" : "step " + checkpoint) : checkpoint;
  }
  function checkpointRank(checkpoint) {
    return checkpoint !== null && /^[0-9]+$/.test(checkpoint) ? Number(checkpoint) : Number.MAX_SAFE_INTEGER;
  }
  function seriesName(row, manyGraders) {
    let name = row.run;
    if (row.seed !== null && row.seed !== undefined && row.setting === "reference") name += " seed " + row.seed;
    if (manyGraders) name += " by " + row.grader;
    return name;
  }

  // ---- header ----
  function renderSummary() {
    const options = Object.entries(DATA.options).map(([name, value]) => name + "=" + value).join(", ");
    document.getElementById("summary").textContent =
      DATA.sources.join(", ") + " · " + DATA.rows.length + " rows · " + DATA.items.length +
      " transcripts · scoring: " + options + " · generated " + DATA.generated_at;
  }

  // ---- charts: one panel per (setting, k), one chart per metric, one line per run ----
  function renderCharts() {
    const grid = document.getElementById("chart-grid");
    const rows = DATA.rows.filter((row) => row.n > 0);
    const manyGraders = new Set(DATA.rows.map((row) => row.grader)).size > 1;
    const names = [...new Set(rows.map((row) => seriesName(row, manyGraders)))];
    const colour = (name) => PALETTE[names.indexOf(name) % PALETTE.length];
    const legend = document.getElementById("legend");
    for (const name of names) legend.append(el("span", {}, el("span", { className: "swatch", style: "background:" + colour(name) }), name));
    document.getElementById("charts-note").textContent = rows.length
      ? "Bars: ± 1 standard error over combinations. Square: the base model (step 0)."
      : "No scored rows to draw.";
    const panels = new Map();
    for (const row of rows) {
      const key = row.setting + "\u0000" + row.k;
      if (!panels.has(key)) panels.set(key, { setting: row.setting, k: row.k, rows: [] });
      panels.get(key).rows.push(row);
    }
    const ordered = [...panels.values()].sort((a, b) => (a.setting < b.setting ? -1 : a.setting > b.setting ? 1 : a.k - b.k));
    for (const panel of ordered) {
      const container = el("div", { className: "chart-row", "data-setting": panel.setting, "data-k": panel.k }, el("h3", {}, panel.setting + ", k = " + panel.k));
      for (const metric of METRICS) container.append(chart(panel, metric, (row) => seriesName(row, manyGraders), colour));
      grid.append(container);
    }
  }

  function chart(panel, metric, nameOf, colour) {
    const width = 320, height = 210, left = 40, right = 12, top = 22, bottom = 34;
    const root = svg("svg", { className: "chart", width, height, viewBox: "0 0 " + width + " " + height, role: "img", "data-metric": metric });
    root.append(svg("text", { className: "title", x: left, y: 14 }, TITLES[metric] || metric));
    const stepped = panel.rows.filter((row) => row.step !== null && row.step !== undefined);
    const series = new Map();
    for (const row of (stepped.length ? stepped : panel.rows)) {
      const name = nameOf(row);
      if (!series.has(name)) series.set(name, []);
      series.get(name).push(row);
    }
    const names = [...series.keys()];
    let xOf, ticks;
    if (stepped.length) {
      const steps = [...new Set(stepped.map((row) => row.step))].sort((a, b) => a - b);
      const low = steps[0], high = steps[steps.length - 1];
      xOf = (row) => left + (high === low ? 0.5 : (row.step - low) / (high - low)) * (width - left - right);
      const every = Math.max(1, Math.ceil(steps.length / 6));
      ticks = steps.filter((_, index) => index % every === 0 || index === steps.length - 1).map((step) => [xOf({ step }), String(step)]);
    } else {
      xOf = (row) => left + ((names.indexOf(nameOf(row)) + 0.5) / names.length) * (width - left - right);
      ticks = names.map((name, index) => [left + ((index + 0.5) / names.length) * (width - left - right), name.length > 14 ? name.slice(0, 13) + "…" : name]);
    }
    const yOf = (value) => top + (1 - Math.max(0, Math.min(1, value))) * (height - top - bottom);
    for (const value of [0, 0.25, 0.5, 0.75, 1]) {
      root.append(svg("line", { className: "grid", x1: left, x2: width - right, y1: yOf(value), y2: yOf(value) }));
      root.append(svg("text", { x: left - 4, y: yOf(value) + 3, "text-anchor": "end" }, value.toFixed(2)));
    }
    root.append(svg("line", { className: "axis", x1: left, x2: width - right, y1: yOf(0), y2: yOf(0) }));
    for (const [x, label] of ticks) root.append(svg("text", { x, y: height - bottom + 14, "text-anchor": "middle" }, label));
    if (stepped.length) root.append(svg("text", { x: (left + width - right) / 2, y: height - 6, "text-anchor": "middle" }, "step"));
    for (const [name, members] of series) {
      const points = members.filter((row) => row[metric] !== null).sort((a, b) => (a.step || 0) - (b.step || 0));
      const group = svg("g", { className: "series", "data-series": name, stroke: colour(name), fill: colour(name) });
      if (stepped.length && points.length > 1) {
        const path = points.map((row, index) => (index ? "L" : "M") + xOf(row).toFixed(1) + "," + yOf(row[metric]).toFixed(1)).join(" ");
        group.append(svg("path", { d: path, fill: "none", "stroke-width": 1.5 }));
      }
      for (const row of points) {
        const x = xOf(row), y = yOf(row[metric]), se = row[metric + "_se"];
        if (se !== null && se !== undefined) {
          group.append(svg("line", { x1: x, x2: x, y1: yOf(row[metric] - se), y2: yOf(row[metric] + se), "stroke-width": 1 }));
        }
        const isBase = row.step === 0;
        const mark = isBase
          ? svg("rect", { x: x - 4.5, y: y - 4.5, width: 9, height: 9, fill: "#fff", "stroke-width": 2, className: "base" })
          : svg("circle", { cx: x, cy: y, r: 3 });
        mark.append(svg("title", {}, name + " · " + checkpointLabel(row.checkpoint) + " · " + (TITLES[metric] || metric) + " " + withSe(row[metric], row[metric + "_se"]) + " (n=" + row.n + ")"));
        group.append(mark);
      }
      root.append(group);
    }
    return root;
  }

  // ---- the compare table ----
  function tableColumns(rows) {
    const columns = [
      ["run", "run", (row) => row.run, "text"], ["setting", "setting", (row) => row.setting, "text"],
      ["checkpoint", "checkpoint", (row) => checkpointLabel(row.checkpoint), "text"], ["k", "k", (row) => row.k],
      ["seed", "seed", (row) => formatValue(row.seed)], ["grader", "grader", (row) => row.grader, "text"], ["n", "n", (row) => row.n],
    ];
    for (const metric of METRICS) columns.push([metric, TITLES[metric], (row) => withSe(row[metric], row[metric + "_se"])]);
    columns.push(["unscored", "unscored gradings", (row) => row.unscored + "/" + row.gradings]);
    if (rows.some((row) => "paired_n" in row)) {
      for (const metric of METRICS) columns.push([metric + "_delta", "Δ " + TITLES[metric], (row) => signed(row[metric + "_delta"], row[metric + "_delta_se"])]);
      columns.push(["paired_n", "paired n", (row) => formatValue(row.paired_n)]);
    }
    // significance fields (`*_ci95`, `*_p_value`) are shown whenever the rows carry them
    const extra = [];
    for (const row of rows) for (const key of Object.keys(row)) if (/_(ci95|p_value)$/.test(key) && !extra.includes(key)) extra.push(key);
    for (const key of extra) {
      const isP = key.endsWith("_p_value");
      columns.push([key, key.replace(/_/g, " "), (row) => (isP ? formatP(row[key]) : formatValue(row[key])), isP ? "p" : ""]);
    }
    columns.push(["warnings", "warnings", (row) => (row.warnings || []).join("; "), "warning"]);
    return columns;
  }

  function renderTable() {
    const table = document.getElementById("compare-table");
    const columns = tableColumns(DATA.rows);
    table.tHead.append(el("tr", {}, columns.map(([key, title, , kind]) => el("th", { className: kind === "text" ? "text" : null, "data-column": key }, title))));
    for (const row of DATA.rows) {
      table.tBodies[0].append(el("tr", {}, columns.map(([key, , cell, kind]) => {
        const significant = kind === "p" && typeof row[key] === "number" && row[key] < 0.05;
        return el("td", { className: kind === "text" ? "text" : kind === "warning" ? "warning" : significant ? "significant" : null }, cell(row));
      })));
    }
    const compat = DATA.rows.some((row) => row.reference_compat);
    document.getElementById("table-note").textContent =
      "One row per (run, setting, checkpoint, k, seed), as `compare --json` prints them. Δ: checkpoint minus step 0, ± the standard error paired over the combinations both scored." +
      (compat ? " Reference-compatible: unscored gradings scored as 0." : "");
  }

  function renderAgreement() {
    const section = DATA.agreement;
    if (!section) return;
    document.getElementById("agreement").hidden = false;
    document.getElementById("agreement-link").hidden = false;
    document.getElementById("agreement-note").textContent = section.note || "";
    const keys = [];
    for (const row of section.rows) for (const key of Object.keys(row)) if (!keys.includes(key)) keys.push(key);
    const table = document.getElementById("agreement-table");
    table.tHead.append(el("tr", {}, keys.map((key) => el("th", {}, key.replace(/_/g, " ")))));
    for (const row of section.rows) {
      table.tBodies[0].append(el("tr", {}, keys.map((key) => el("td", { className: typeof row[key] === "string" ? "text" : null }, key.endsWith("p_value") ? formatP(row[key]) : formatValue(row[key])))));
    }
  }

  // ---- transcripts: filters over the in-memory index, details unpacked chunk by chunk ----
  const chunkCache = new Map();
  function loadChunk(index) {
    if (!chunkCache.has(index)) {
      chunkCache.set(index, (async () => {
        const text = document.getElementById("chunk-" + index).textContent.trim();
        const binary = atob(text);
        const bytes = new Uint8Array(binary.length);
        for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
        const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
        return JSON.parse(await new Response(stream).text());
      })());
    }
    return chunkCache.get(index);
  }
  async function detailOf(item) {
    const [chunk, offset] = item[F.chunk];
    return (await loadChunk(chunk))[offset];
  }

  const FILTERS = [
    ["run", "run", (item) => item[F.run]],
    ["checkpoint", "step", (item) => item[F.checkpoint]],
    ["setting", "setting", (item) => item[F.setting]],
    ["k", "k", (item) => item[F.k]],
    ["skill", "skill", (item) => item[F.skills]],
    ["topic", "topic", (item) => item[F.topic]],
    ["status", "full marks", (item) => item[F.status]],
  ];
  const state = { filters: {}, page: 0, matches: [] };

  function filterOptions(name) {
    if (name === "k") return [...new Set(DATA.items.map((item) => item[F.k]))].sort((a, b) => a - b).map((k) => [String(k), "k = " + k]);
    const values = name === "skill" ? L.skill : L[name];
    let order = values.map((value, index) => index);
    if (name === "checkpoint") order.sort((a, b) => checkpointRank(values[a]) - checkpointRank(values[b]));
    else if (name === "skill" || name === "topic") order.sort((a, b) => String(values[a]).localeCompare(String(values[b])));
    return order.map((index) => [String(index), name === "checkpoint" ? checkpointLabel(values[index]) : String(values[index])]);
  }

  function renderFilters() {
    const form = document.getElementById("filters");
    for (const [name, title] of FILTERS) {
      const select = el("select", { name, id: "filter-" + name }, el("option", { value: "" }, "any"),
        filterOptions(name).map(([value, label]) => el("option", { value }, label)));
      select.addEventListener("change", () => {
        state.filters[name] = select.value;
        state.page = 0;
        applyFilters();
      });
      form.append(el("label", {}, title, select));
    }
    document.getElementById("previous-page").addEventListener("click", () => { if (state.page > 0) { state.page--; renderPage(); } });
    document.getElementById("next-page").addEventListener("click", () => {
      if ((state.page + 1) * PAGE_SIZE < state.matches.length) { state.page++; renderPage(); }
    });
  }

  function applyFilters() {
    const active = FILTERS.filter(([name]) => state.filters[name]).map(([name, , value]) => [name, Number(state.filters[name]), value]);
    state.matches = [];
    DATA.items.forEach((item, index) => {
      for (const [name, wanted, value] of active) {
        const have = value(item);
        if (name === "skill" ? !have.includes(wanted) : have !== wanted) return;
      }
      state.matches.push(index);
    });
    renderPage();
  }

  let renderToken = 0;
  async function renderPage() {
    const token = ++renderToken;
    const list = document.getElementById("transcript-list");
    const first = state.page * PAGE_SIZE;
    const shown = state.matches.slice(first, first + PAGE_SIZE);
    const pages = Math.max(1, Math.ceil(state.matches.length / PAGE_SIZE));
    document.getElementById("page-status").textContent = state.matches.length
      ? (first + 1) + "–" + (first + shown.length) + " of " + state.matches.length + " transcripts (page " + (state.page + 1) + " of " + pages + ")"
      : "no transcript matches these filters";
    document.getElementById("previous-page").disabled = state.page === 0;
    document.getElementById("next-page").disabled = first + PAGE_SIZE >= state.matches.length;
    list.replaceChildren(el("p", { className: "muted" }, "Unpacking transcripts…"));
    try {
      const details = await Promise.all(shown.map((index) => detailOf(DATA.items[index])));
      if (token !== renderToken) return;
      list.replaceChildren(...shown.map((index, position) => card(index, details[position])));
    } catch (error) {
      list.replaceChildren(el("p", { className: "error" }, "Could not unpack the transcripts (this needs a browser with DecompressionStream: Chrome 80+, Firefox 113+, Safari 16.4+): " + error));
      throw error;
    }
    document.body.dataset.renderedPages = String(Number(document.body.dataset.renderedPages || 0) + 1);
  }

  function statusBadge(status) {
    return el("span", { className: "badge " + status.replace(/ /g, "-") }, status);
  }

  function itemTitle(item) {
    const checkpoint = L.checkpoint[item[F.checkpoint]];
    const parts = [L.run[item[F.run]], checkpoint === null ? null : checkpointLabel(checkpoint), L.setting[item[F.setting]], "k = " + item[F.k], "generation round " + item[F.round]];
    return parts.filter((part) => part !== null).join(" · ");
  }

  function card(index, detail) {
    const item = DATA.items[index];
    const compareButton = el("button", { type: "button" }, "same combination across checkpoints");
    compareButton.addEventListener("click", () => showSideBySide(item[F.group]));
    return el("article", { className: "card", "data-item": index, "data-k": item[F.k], "data-step": L.checkpoint[item[F.checkpoint]] },
      el("header", { className: "card-head" }, el("strong", {}, itemTitle(item)), statusBadge(L.status[item[F.status]]), compareButton),
      el("div", {}, "topic: ", el("strong", {}, L.topic[item[F.topic]]), " · skills: ", item[F.skills].map((skill) => L.skill[skill]).join("; ")),
      el("div", { className: "role" }, "graded answer (extracted from the second answer)"), el("pre", { className: "answer" }, detail.answer),
      scoring(item, detail),
      el("details", {}, el("summary", {}, "conversation: both prompts and both answers"), conversation(detail)),
      el("details", {}, el("summary", {}, "grader replies (" + detail.gradings.length + ")"), graderReplies(detail)),
      el("div", { className: "muted" }, "source: " + detail.source));
  }

  function conversation(detail) {
    return el("div", {}, detail.messages.map(([role, content], position) =>
      el("div", {}, el("div", { className: "role" }, role + (role === "user" ? " (prompt)" : role === "assistant" ? " (answer)" : "") + " · message " + (position + 1)), el("pre", {}, content))));
  }

  function graderReplies(detail) {
    return el("div", {}, detail.gradings.map((grading, round) => el("div", {},
      el("div", { className: "role" }, "round " + (round + 1) + " · " + grading.grader + " · " +
        (grading.points ? "parsed points " + grading.points.join(" ") : "unscored: " + grading.unscored)),
      el("pre", { className: "grader-reply" }, grading.raw || "(no reply)"))));
  }

  // compact (the side-by-side columns): the rounds' points in one cell instead of one column per round
  function scoring(item, detail, compact) {
    const k = item[F.k];
    const roundPoint = (grading, row) => (grading.points ? grading.points[row] : "–");
    const header = el("tr", {}, el("th", { className: "text" }, "criterion"),
      compact ? el("th", {}, "rounds") : detail.gradings.map((_, round) => el("th", {}, "round " + (round + 1))), el("th", {}, "scored"));
    const body = detail.criteria.map((criterion, row) => el("tr", {}, el("td", { className: "text" }, criterion),
      compact ? el("td", {}, detail.gradings.map((grading) => roundPoint(grading, row)).join(" ")) : detail.gradings.map((grading) => el("td", {}, roundPoint(grading, row))),
      el("td", { className: detail.points && detail.points[row] === 0 ? "point-lost" : null }, detail.points ? detail.points[row] : "–")));
    const decisions = el("ul", { className: "decisions" });
    const lengthPoint = detail.within_limit ? 1 : 0;
    decisions.append(el("li", {}, "length: " + detail.sentences + " sentence(s), limit " + detail.sentence_limit + " → " +
      (detail.programmatic_length ? "length point " + lengthPoint + " (the sentence count replaces the grader's point)" : "the grader's point is kept (programmatic length off)")));
    if (detail.named === null) decisions.append(el("li", {}, "name penalty: off"));
    else {
      const named = detail.named.map((flag, position) => (flag ? L.skill[item[F.skills][position]] : null)).filter((name) => name !== null);
      decisions.append(el("li", {}, named.length ? "name penalty: the answer names " + named.join("; ") + " → 0 for " + (named.length > 1 ? "those skills" : "that skill") : "name penalty: no skill named in the answer"));
    }
    if (detail.metrics) {
      decisions.append(el("li", {}, "scored: " + METRICS.map((metric) => TITLES[metric] + " " + fixed(detail.metrics[metric])).join(", ") + " (majority vote over the scored rounds, k = " + k + ")"));
    } else {
      decisions.append(el("li", { className: "error" }, "unscored: " + detail.unscored));
    }
    return el("div", { className: "scoring" }, el("table", { className: "points" }, el("thead", {}, header), el("tbody", {}, body)), decisions);
  }

  let groups = null;
  async function showSideBySide(group) {
    if (groups === null) {
      groups = new Map();
      DATA.items.forEach((item, index) => {
        if (!groups.has(item[F.group])) groups.set(item[F.group], []);
        groups.get(item[F.group]).push(index);
      });
    }
    const members = groups.get(group).slice().sort((a, b) => checkpointRank(L.checkpoint[DATA.items[a][F.checkpoint]]) - checkpointRank(L.checkpoint[DATA.items[b][F.checkpoint]]));
    const details = await Promise.all(members.map((index) => detailOf(DATA.items[index])));
    const panel = document.getElementById("side-by-side");
    const first = DATA.items[members[0]];
    const close = el("button", { type: "button" }, "close");
    close.addEventListener("click", () => { panel.hidden = true; panel.replaceChildren(); });
    panel.replaceChildren(
      el("div", {}, el("strong", {}, "Same combination across checkpoints: "), [L.run[first[F.run]], L.setting[first[F.setting]], "k = " + first[F.k], "topic " + L.topic[first[F.topic]], "generation round " + first[F.round]].join(" · "), " ", close),
      el("div", { className: "columns" }, members.map((index, position) => {
        const item = DATA.items[index], detail = details[position];
        return el("div", { className: "column", "data-step": L.checkpoint[item[F.checkpoint]] },
          el("div", {}, el("strong", {}, checkpointLabel(L.checkpoint[item[F.checkpoint]])), " ", statusBadge(L.status[item[F.status]])),
          el("pre", { className: "answer" }, detail.answer), scoring(item, detail, true),
          el("details", {}, el("summary", {}, "grader replies"), graderReplies(detail)));
      })));
    panel.hidden = false;
    panel.scrollIntoView({ block: "start" });
  }

  renderSummary();
  renderCharts();
  renderTable();
  renderAgreement();
  renderFilters();
  applyFilters();
  document.body.dataset.ready = "true";
})();
