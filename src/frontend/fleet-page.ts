// GET /fleet: a live page of the fleet, one self-contained HTML document (no external assets),
// and GET /fleet/events, the server-sent events that feed it. A new client gets a snapshot;
// then, once per tick, every client gets one delta: the worker rows that changed (rows are
// compared as their JSON), the rows that left, the decisions and migrations since the last
// tick, the planner's decisions since the last tick, and the hit rates when they moved. Nothing is sent for a tick without changes but a
// keep-alive comment every 15 s. With 1,000 workers the page costs one row comparison per
// worker per tick on the server, and the browser touches only the rows that changed.
import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import type { FleetDecision, FleetHitRate, FleetMigration, FleetPlannerDecision, FleetState, FleetWorkerRow } from "./fleet-state.ts";

export interface FleetPageOptions {
  /** How often deltas go out (ms, default 1000). */
  tickMs?: number;
}

/** The columns of a row on the wire (an array per worker keeps 1,000 rows small). */
export const FLEET_COLUMNS = ["id", "model", "role", "state", "device", "host", "disk", "remote", "totalBlocks", "running", "waiting", "kvUsagePct", "load"] as const;

type WireRow = (string | number)[];

const toWire = (r: FleetWorkerRow): WireRow => [
  r.id, r.model, r.role, r.state, r.kv.device, r.kv.host, r.kv.disk, r.kv.remote, r.totalBlocks, r.running, r.waiting, r.kvUsagePct, r.load,
];

const KEEPALIVE_MS = 15_000;

interface Client {
  raw: ServerResponse;
  /** Its socket buffer is over the high-water mark: deltas are skipped until it drains. */
  waiting: boolean;
  /** A delta was skipped: it gets a fresh snapshot once it drains, not the deltas it missed. */
  missed: boolean;
  unwatch: () => void;
}

/** The event stream of one FleetState, shared by every client of one server. */
class FleetStream {
  private readonly clients = new Set<Client>();
  private readonly sent = new Map<string, string>();
  private lastDecisionAt = 0;
  private lastMigrations = 0;
  private lastPlannerDecisions = 0;
  private lastHits = "";
  private lastWriteAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly state: FleetState,
    private readonly tickMs: number,
  ) {}

  add(raw: ServerResponse): void {
    const client: Client = { raw, waiting: false, missed: false, unwatch: this.state.watch() };
    this.clients.add(client);
    raw.on("drain", () => {
      client.waiting = false;
      if (!client.missed) return;
      client.missed = false;
      this.write(client, this.snapshot());
    });
    raw.on("close", () => {
      client.unwatch();
      this.clients.delete(client);
      if (this.clients.size === 0) this.stop();
    });
    // The first client's snapshot starts the delta baseline too.
    if (this.clients.size === 1) this.rebase();
    this.write(client, this.snapshot());
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
  }

  close(): void {
    for (const c of this.clients) c.raw.destroy();
    this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Records the current state as sent (a snapshot carries all of it). */
  private rebase(): void {
    this.sent.clear();
    for (const r of this.state.rows()) this.sent.set(r.id, JSON.stringify(toWire(r)));
    this.lastDecisionAt = this.state.recentDecisions().at(-1)?.at ?? 0;
    this.lastMigrations = this.state.recentMigrations().total;
    this.lastPlannerDecisions = this.state.recentPlannerDecisions().total;
    this.lastHits = JSON.stringify(this.state.hitRates());
  }

  private snapshot(): string {
    const rows = this.state.rows().map(toWire);
    const migrations = this.state.recentMigrations();
    const body = {
      columns: FLEET_COLUMNS,
      rows,
      decisions: this.state.recentDecisions(),
      migrations: { total: migrations.total, recent: migrations.recent },
      planner: this.state.recentPlannerDecisions(),
      hits: this.state.hitRates(),
    };
    return `event: snapshot\ndata: ${JSON.stringify(body)}\n\n`;
  }

  private tick(): void {
    const upsert: WireRow[] = [];
    const seen = new Set<string>();
    for (const r of this.state.rows()) {
      seen.add(r.id);
      const wire = toWire(r);
      const json = JSON.stringify(wire);
      if (this.sent.get(r.id) !== json) {
        this.sent.set(r.id, json);
        upsert.push(wire);
      }
    }
    const remove: string[] = [];
    for (const id of this.sent.keys()) if (!seen.has(id)) remove.push(id);
    for (const id of remove) this.sent.delete(id);
    const decisions: FleetDecision[] = this.state.recentDecisions().filter((d) => d.at > this.lastDecisionAt);
    if (decisions.length > 0) this.lastDecisionAt = decisions.at(-1)!.at;
    const m = this.state.recentMigrations();
    let migrations: { total: number; recent: FleetMigration[] } | undefined;
    if (m.total !== this.lastMigrations) {
      migrations = { total: m.total, recent: m.recent.slice(-Math.min(m.total - this.lastMigrations, m.recent.length)) };
      this.lastMigrations = m.total;
    }
    const p = this.state.recentPlannerDecisions();
    let planner: { total: number; recent: FleetPlannerDecision[] } | undefined;
    if (p.total !== this.lastPlannerDecisions) {
      planner = { total: p.total, recent: p.recent.slice(-Math.min(p.total - this.lastPlannerDecisions, p.recent.length)) };
      this.lastPlannerDecisions = p.total;
    }
    const hitsNow = this.state.hitRates();
    const hitsJson = JSON.stringify(hitsNow);
    let hits: FleetHitRate[] | undefined;
    if (hitsJson !== this.lastHits) {
      hits = hitsNow;
      this.lastHits = hitsJson;
    }
    const now = Date.now();
    let message: string;
    if (upsert.length === 0 && remove.length === 0 && decisions.length === 0 && !migrations && !planner && !hits) {
      if (now - this.lastWriteAt < KEEPALIVE_MS) return;
      message = ": keep-alive\n\n";
    } else {
      message = `event: delta\ndata: ${JSON.stringify({ upsert, remove, decisions, migrations, planner, hits })}\n\n`;
    }
    this.lastWriteAt = now;
    for (const c of this.clients) {
      if (c.waiting) c.missed = true;
      else this.write(c, message);
    }
  }

  private write(client: Client, text: string): void {
    if (client.raw.destroyed) return;
    if (!client.raw.write(text)) client.waiting = true;
  }
}

/** Adds GET /fleet and GET /fleet/events to the app; auth is the app's (routes under /fleet). */
export function registerFleetPage(app: FastifyInstance, state: FleetState, options: FleetPageOptions = {}): void {
  const stream = new FleetStream(state, options.tickMs ?? 1000);
  app.addHook("onClose", async () => stream.close());
  app.get("/fleet", async (_req, reply) => reply.type("text/html; charset=utf-8").header("cache-control", "no-cache").send(FLEET_HTML));
  app.get("/fleet/events", (req, reply) => {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    req.raw.socket.setNoDelay(true);
    stream.add(raw);
  });
}

const FLEET_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Turbine fleet</title>
<style>
  :root { color-scheme: light dark; --ok: #2e7d32; --warn: #ef6c00; --gone: #9e9e9e; --bar: #42a5f5; }
  body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; }
  h1 { font-size: 18px; margin: 0 0 8px; } h2 { font-size: 14px; margin: 16px 0 6px; }
  .summary span { margin-right: 16px; } .muted { color: #888; }
  table { border-collapse: collapse; width: 100%; } th, td { padding: 2px 6px; text-align: right; white-space: nowrap; }
  th { position: sticky; top: 0; background: Canvas; border-bottom: 1px solid #8884; }
  td:nth-child(-n+4), th:nth-child(-n+4) { text-align: left; }
  tr.draining td { color: var(--warn); } tr.gone td { color: var(--gone); text-decoration: line-through; }
  .state-ready { color: var(--ok); }
  .bar { display: inline-block; height: 8px; background: var(--bar); vertical-align: middle; }
  .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
  ol { margin: 0; padding-left: 18px; } li { margin-bottom: 4px; } code { font-size: 12px; }
  #planner li.hold { color: #888; }
  #workers-wrap { max-height: 60vh; overflow: auto; }
</style>
</head>
<body>
<h1>Turbine fleet <span id="conn" class="muted">connecting…</span></h1>
<div class="summary" id="summary"></div>
<h2>Workers</h2>
<div id="workers-wrap">
<table id="workers"><thead><tr>
  <th>worker</th><th>model</th><th>role</th><th>state</th><th>KV device</th><th>host</th><th>disk</th><th>remote</th>
  <th>KV use</th><th>running</th><th>waiting</th><th>load</th>
</tr></thead><tbody></tbody></table>
</div>
<div class="cols">
  <div><h2>KV hit rate</h2><table id="hits"><thead><tr><th>model</th><th>total</th><th>device</th><th>host</th><th>disk</th><th>remote</th><th>requests</th></tr></thead><tbody></tbody></table>
  <h2>Migrations <span id="migrations-total" class="muted">0</span></h2><ol id="migrations"></ol>
  <h2>Planner decisions <span id="planner-total" class="muted">0</span></h2><ol id="planner"></ol></div>
  <div><h2>Last routing decisions</h2><ol id="decisions"></ol></div>
</div>
<script>
"use strict";
const stats = { messages: 0, bytes: 0, snapshots: 0, deltas: 0 };
window.__fleet = stats;
const COL = {};
let rows = new Map();
const tbody = document.querySelector("#workers tbody");
const pct = (x) => (x * 100).toFixed(1) + "%";
const short = (id) => String(id).slice(0, 12);
const time = (t) => new Date(t).toLocaleTimeString();
function cells(tr, r) {
  const v = (name) => r[COL[name]];
  const values = [short(v("id")), v("model"), v("role"), v("state"), v("device"), v("host"), v("disk"), v("remote"), null, v("running"), v("waiting"), v("load")];
  if (tr.cells.length === 0) for (let i = 0; i < values.length; i++) tr.insertCell();
  tr.title = v("id");
  tr.dataset.worker = v("id");
  tr.className = v("state");
  for (let i = 0; i < values.length; i++) if (values[i] !== null && tr.cells[i].textContent !== String(values[i])) tr.cells[i].textContent = values[i];
  tr.cells[3].className = "state-" + v("state");
  const use = v("kvUsagePct");
  tr.cells[8].innerHTML = '<span class="bar" style="width:' + Math.round(use / 2) + 'px"></span> ' + use + "% of " + v("totalBlocks");
}
function upsert(r) {
  const id = r[COL.id];
  let entry = rows.get(id);
  if (!entry) { entry = { tr: tbody.insertRow() }; rows.set(id, entry); }
  entry.row = r;
  cells(entry.tr, r);
}
function remove(id) { const e = rows.get(id); if (e) { e.tr.remove(); rows.delete(id); } }
function summary() {
  const n = { ready: 0, draining: 0, gone: 0 };
  for (const e of rows.values()) n[e.row[COL.state]]++;
  document.getElementById("summary").innerHTML =
    '<span><b id="n-ready">' + n.ready + '</b> ready</span><span><b id="n-draining">' + n.draining + '</b> draining</span><span><b id="n-gone">' + n.gone + "</b> gone</span>";
}
function hits(list) {
  const tb = document.querySelector("#hits tbody");
  tb.textContent = "";
  for (const h of list) {
    const tr = tb.insertRow();
    for (const v of [h.model, pct(h.total), pct(h.byTier.device), pct(h.byTier.host), pct(h.byTier.disk), pct(h.byTier.remote), h.numRequests]) tr.insertCell().textContent = v;
  }
}
function decisions(list, replace) {
  const ol = document.getElementById("decisions");
  if (replace) ol.textContent = "";
  for (const d of list) {
    const li = document.createElement("li");
    const cands = d.candidates.map((c) => (c.workerId === d.workerId ? "<b>" : "") + short(c.workerId) + " overlap " + c.overlapBlocks + " cost " + (c.cost === null ? "–" : c.cost) + (c.workerId === d.workerId ? "</b>" : "")).join(" · ");
    li.innerHTML = '<span class="muted">' + time(d.at) + "</span> " + d.model + " (" + d.role + ", " + d.promptBlocks + " blocks) → <b>" + short(d.workerId) + "</b><br><code>" + cands + "</code>";
    ol.prepend(li);
  }
  while (ol.children.length > 20) ol.lastChild.remove();
}
function migrations(m, replace) {
  document.getElementById("migrations-total").textContent = m.total;
  const ol = document.getElementById("migrations");
  if (replace) ol.textContent = "";
  for (const x of m.recent) {
    const li = document.createElement("li");
    li.textContent = time(x.at) + " " + x.model + ": " + short(x.from) + " → " + short(x.to);
    ol.prepend(li);
  }
  while (ol.children.length > 20) ol.lastChild.remove();
}
function planner(p, replace) {
  document.getElementById("planner-total").textContent = p.total;
  const ol = document.getElementById("planner");
  if (replace) ol.textContent = "";
  for (const x of p.recent) {
    const li = document.createElement("li");
    li.className = x.desired > x.current ? "up" : x.desired < x.current ? "down" : "hold";
    li.dataset.pool = x.pool;
    li.textContent = time(x.at) + " " + x.pool + ": " + x.current + " → " + x.desired + " (" + x.cause + ") " + x.reason;
    ol.prepend(li);
  }
  while (ol.children.length > 20) ol.lastChild.remove();
}
const es = new EventSource("/fleet/events");
es.onopen = () => { document.getElementById("conn").textContent = "live"; };
es.onerror = () => { document.getElementById("conn").textContent = "reconnecting…"; };
es.addEventListener("snapshot", (ev) => {
  stats.messages++; stats.snapshots++; stats.bytes += ev.data.length;
  const s = JSON.parse(ev.data);
  s.columns.forEach((c, i) => (COL[c] = i));
  tbody.textContent = "";
  rows = new Map();
  for (const r of s.rows) upsert(r);
  hits(s.hits);
  decisions(s.decisions, true);
  migrations(s.migrations, true);
  planner(s.planner, true);
  summary();
});
es.addEventListener("delta", (ev) => {
  stats.messages++; stats.deltas++; stats.bytes += ev.data.length;
  const d = JSON.parse(ev.data);
  for (const r of d.upsert) upsert(r);
  for (const id of d.remove) remove(id);
  if (d.hits) hits(d.hits);
  if (d.decisions.length) decisions(d.decisions, false);
  if (d.migrations) migrations(d.migrations, false);
  if (d.planner) planner(d.planner, false);
  summary();
});
</script>
</body>
</html>
`;
