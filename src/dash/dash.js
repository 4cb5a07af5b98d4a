// dash.js: fills dash.html from GET /cluster.json once a second. The
// history (the last minutes, one sample a second) is kept by the daemon's
// gatherer, so the page holds no state of its own and shows the same past
// whenever it is opened. Charts are Chart.js (Debian's libjs-chart.js,
// served at /chart.js); this file draws nothing itself.
"use strict";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
	"#65a30d", "#ea580c", "#4f46e5", "#0d9488", "#9333ea"];
const STATE_COLOUR = { up: "#16a34a", down: "#dc2626", drain: "#6b7280" };
const charts = {};

function $(id) { return document.getElementById(id); }

function showError(msg) {
	const e = $("error");
	e.textContent = msg;
	e.style.display = msg ? "block" : "none";
	document.body.dataset.error = msg;
}

function fmt(v, digits) {
	if (v === null || v === undefined || Number.isNaN(v))
		return "-";
	return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits || 0 });
}

function fmtBytes(v) {
	const u = ["B", "kB", "MB", "GB", "TB"];
	let i = 0;
	while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
	return fmt(v, 1) + " " + u[i];
}

function stateClass(s) {
	if (s === "up" || s === "down" || s === "drain")
		return "state-" + s;
	return s === "?" ? "state-unknown" : "state-mixed";
}

function lineChart(id, yTitle, stacked, tick) {
	const opts = {
		animation: false, responsive: true, maintainAspectRatio: false, spanGaps: false,
		interaction: { mode: "index", intersect: false },
		elements: { point: { radius: 0 }, line: { borderWidth: 2, tension: 0.2 } },
		scales: {
			x: { ticks: { maxTicksLimit: 7, maxRotation: 0 } },
			y: { beginAtZero: true, stacked: stacked, title: { display: true, text: yTitle },
			     ticks: tick ? { callback: tick } : {} },
		},
		plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
	};
	return new Chart($(id), { type: "line", data: { labels: [], datasets: [] }, options: opts });
}

function makeCharts() {
	charts.conn = lineChart("chart-conn", "connections/s", false);
	charts.served = lineChart("chart-served", "req/s", false);
	charts.in = lineChart("chart-in", "req/s", true);
	charts.bytes = lineChart("chart-bytes", "bytes/s", false, fmtBytes);
	charts.queue = lineChart("chart-queue", "requests waiting", false);
	charts.states = new Chart($("chart-states"), {
		type: "bar",
		data: { labels: [], datasets: [{ label: "weight", data: [], backgroundColor: [] }] },
		options: { animation: false, responsive: true, maintainAspectRatio: false, indexAxis: "y",
			   scales: { x: { beginAtZero: true, title: { display: true, text: "weight" } } },
			   plugins: { legend: { display: false } } },
	});
}

// Sets CHART's series to NAMES x SERIES (one array per name) over LABELS.
function setSeries(chart, labels, names, series, fill) {
	chart.data.labels = labels;
	chart.data.datasets = names.map((name, i) => {
		const old = chart.data.datasets.find(d => d.label === name);
		const c = PALETTE[i % PALETTE.length];
		const d = old || { label: name, borderColor: c, backgroundColor: fill ? c + "55" : c,
				   fill: fill ? (i ? "-1" : "origin") : false };
		d.data = series[i] || [];
		return d;
	});
	chart.update("none");
	chart.canvas.dataset.points = String(labels.length * names.length);
}

function cell(tr, field, text, cls) {
	let td = tr.querySelector('[data-field="' + field + '"]');
	if (!td) {
		td = document.createElement("td");
		td.dataset.field = field;
		tr.appendChild(td);
	}
	td.textContent = text;
	td.className = cls || "";
	return td;
}

function row(tbody, key, attr, value) {
	let tr = tbody.querySelector("tr[" + attr + '="' + CSS.escape(value) + '"]');
	if (!tr) {
		tr = document.createElement("tr");
		tr.setAttribute(attr, value);
		tr.id = key;
		tbody.appendChild(tr);
	}
	return tr;
}

function fillNodes(st) {
	const tbody = $("nodes").tBodies[0];
	const seen = new Set();
	let up = 0;
	for (const n of st.nodes) {
		const tr = row(tbody, "node-" + n.name, "data-node", n.name);
		seen.add(n.name);
		if (n.state === "up")
			up++;
		cell(tr, "name", n.name, "l");
		const s = cell(tr, "state", "", "l");
		const b = document.createElement("span");
		b.className = "state " + stateClass(n.state);
		b.textContent = n.state;
		b.dataset.state = n.state;
		s.appendChild(b);
		cell(tr, "weight", n.weight);
		cell(tr, "l4", n.l4 ? (n.l4.up ? "up" : "down") + " / " + n.l4.weight + " / " + n.l4.slots : "-",
		     n.l4 && !n.l4.up ? "bad" : "");
		cell(tr, "clients", n.clients === null ? "-" : String(n.clients));
		cell(tr, "req_per_s", fmt(n.req_per_s, 1));
		cell(tr, "requests", String(n.requests));
		cell(tr, "inflight", String(n.inflight));
		cell(tr, "pool", n.pool_idle + "/" + n.pool_open);
		cell(tr, "l7_switch", n.l7_switch, n.l7_switch === "ok" ? "l" : "l bad");
	}
	for (const tr of Array.from(tbody.rows))
		if (!seen.has(tr.dataset.node))
			tr.remove();
	$("nodes-up").textContent = up + " / " + st.nodes.length;
}

function fillDaemons(st) {
	const tbody = $("daemons").tBodies[0];
	let answering = 0;
	tbody.textContent = "";
	for (const d of st.daemons) {
		const tr = row(tbody, "daemon-" + d.name.replace(/\s+/g, "-"), "data-daemon", d.name);
		answering += d.answering ? 1 : 0;
		cell(tr, "name", d.name, "l");
		cell(tr, "admin", d.admin, "l");
		cell(tr, "answering", d.answering ? "yes" : "no", d.answering ? "l" : "l bad");
		cell(tr, "error", d.error || "", "l");
	}
	$("daemons-answering").textContent = answering + " / " + st.daemons.length;
}

function clock(t) {
	const d = new Date(t * 1000);
	return d.toTimeString().slice(0, 8);
}

function render(j) {
	const st = j.status, h = j.history;
	$("file").textContent = st.file;
	$("by").textContent = j.by;
	$("round").textContent = String(j.round);
	$("updated").textContent = clock(j.time);
	$("total-requests").textContent = String(j.totals.requests);
	$("total-rate").textContent = fmt(j.totals.req_per_s, 1);
	fillNodes(st);
	fillDaemons(st);
	if (!window.Chart) {
		showError("Chart.js did not load from /chart.js (is Debian's libjs-chart.js installed on " +
			  "the host of " + j.by + "?): the tables are live, the charts are not");
		return false;
	}
	if (!charts.conn)
		makeCharts();
	const labels = h.t.map(clock);
	setSeries(charts.conn, labels, h.nodes, h.conn_per_s, false);
	setSeries(charts.served, labels, h.nodes, h.served_per_s, false);
	setSeries(charts.in, labels, h.nodes.map(n => "switch " + n), h.in_per_s, true);
	setSeries(charts.bytes, labels, h.engines, h.bytes_per_s, false);
	setSeries(charts.queue, labels, h.classes.length ? h.classes : [], h.queue, false);
	const sc = charts.states;
	sc.data.labels = st.nodes.map(n => n.name + " (" + n.state + ")");
	sc.data.datasets[0].data = st.nodes.map(n => Number(n.weight.split(",")[0]) || 0);
	sc.data.datasets[0].backgroundColor = st.nodes.map(n => STATE_COLOUR[n.state] || "#d97706");
	sc.update("none");
	sc.canvas.dataset.points = String(st.nodes.length);
	return true;
}

async function tick() {
	try {
		const r = await fetch("/cluster.json", { cache: "no-store" });
		if (!r.ok)
			throw new Error("GET /cluster.json: HTTP " + r.status + ": " + (await r.text()).trim());
		const j = await r.json();
		if (render(j))
			showError("");
		document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
		document.body.dataset.round = String(j.round);
		document.body.dataset.samples = String(j.history.t.length);
	} catch (e) {
		showError(String(e.message || e));
	}
	setTimeout(tick, 1000);
}

tick();
