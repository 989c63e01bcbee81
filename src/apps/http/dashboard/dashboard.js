// netmap-ts dashboard (served at / by apps/http/server.ts). Plain browser JavaScript, no build.
//
// Where the figures come from (the same server, nothing else):
//   /api/stream      Server-Sent Events: every second, each port's rates and total drops
//   /api/ports       each port's counters and rings (topology every 5 s, the open detail every 1 s)
//   /api/switches    switches: lookup, learned MACs
//   /api/interfaces  the daemon's attached interfaces (404 without a daemon: no NICs then)
//   /api/daemon      the daemon's pid, version, uptime (404 without a daemon)
//   /api/vms         the daemon's VM ports (vhost-user): queues, kicks, interrupts (404 without a daemon)
//   /api/macs        learned MACs, for a port's detail
//   /api/vxlan       VXLAN ports: configuration, counters (drops by cause), forwarding table
//
// Memory stays bounded however long the page is open: each port keeps its last POINTS samples
// in a ring buffer of Float64Arrays (no growing arrays), charts of ports that went away are
// destroyed, and nothing else accumulates. EventSource reconnects by itself when the server
// goes away (a daemon restart): the page shows "disconnected" meanwhile, and picks the
// topology up again when it comes back.
'use strict';
(function () {
  // samples kept per port: 5 minutes at one a second (?points=N, 2..3600, to see more or less)
  const POINTS = Math.max(2, Math.min(3600, Math.floor(Number(new URLSearchParams(location.search).get('points'))) || 300));
  const TOPOLOGY_MS = 5000;
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of kids) e.append(c);
    return e;
  };

  // ---- number formatting
  const si = (v, unit) => {
    if (!(v >= 0)) return '-';
    const a = [[1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
    for (const [d, p] of a) if (v >= d) return (v / d).toFixed(v / d >= 100 ? 0 : v / d >= 10 ? 1 : 2) + ' ' + p + unit;
    return (v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + unit;
  };
  const count = (v) => (v >= 0 ? Math.round(v).toLocaleString('en-US') : '-');

  // ---- a ring buffer of samples per port: time, rx pps, tx pps, drops/s
  class Ring {
    constructor(n) {
      this.n = n; this.len = 0; this.head = 0;
      this.cols = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    }
    push(t, rx, tx, d) {
      const i = this.head;
      this.cols[0][i] = t; this.cols[1][i] = rx; this.cols[2][i] = tx; this.cols[3][i] = d;
      this.head = (i + 1) % this.n;
      if (this.len < this.n) this.len++;
    }
    /** uPlot's data: columns in time order (fresh arrays of at most n points). */
    data() {
      const start = (this.head - this.len + this.n) % this.n;
      return this.cols.map((c) => {
        const out = new Array(this.len);
        for (let k = 0; k < this.len; k++) out[k] = c[(start + k) % this.n];
        return out;
      });
    }
    last(col) { return this.len ? this.cols[col][(this.head - 1 + this.n) % this.n] : NaN; }
  }

  // ---- state
  const ports = new Map(); // key "switch\0port" -> { sw, name, ring, chart, box, latest, rates }
  let topo = { switches: [], ports: [], interfaces: [], vms: [], vxlan: [], daemon: null };
  let selected = null; // key of the port whose detail is open
  let lastStream = 0;

  const keyOf = (sw, port) => sw + '\u0000' + port;

  // ---- what a port is: a NIC (attached interface), its host stack, a VM (vhost-user), or a software port
  function describe(p) {
    for (const v of topo.vms) {
      if (v.port === p.port) return { kind: 'vm', backend: 'vhost-user', peer: 'VM ' + v.name + (v.connected ? '' : ' (not connected)'), vm: v };
    }
    for (const i of topo.interfaces) {
      if (i.switch !== p.switch) continue;
      if (i.port === p.port) return { kind: 'nic', backend: i.backend, peer: 'NIC ' + i.interface + (i.kernelDropsTotal ? ' (kernel dropped ' + count(i.kernelDropsTotal) + ')' : ''), iface: i };
      if (i.hostPort === p.port) return { kind: 'host', backend: 'tap', peer: 'host stack of ' + i.interface, iface: i };
    }
    return { kind: 'vale', backend: 'shared memory', peer: p.openers + ' opener' + (p.openers === 1 ? '' : 's') + (p.monitors ? ', ' + p.monitors + ' monitor' + (p.monitors === 1 ? '' : 's') : '') };
  }

  const getJson = (path) => fetch(path, { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null), () => null);

  async function refreshTopology() {
    const [sw, ps, ifs, d, vms, vx] = await Promise.all([getJson('/api/switches'), getJson('/api/ports'), getJson('/api/interfaces'), getJson('/api/daemon'), getJson('/api/vms'), getJson('/api/vxlan')]);
    if (!sw || !ps) return;
    topo = { switches: sw.switches, ports: ps.ports, interfaces: ifs ? ifs.interfaces : [], vms: vms ? vms.vms : [], vxlan: vx ? vx.ports : [], daemon: d };
    const probs = [...sw.skipped.map((s) => (s.file || s.path || '') + ': ' + (s.reason || JSON.stringify(s))), ...sw.problems];
    const pb = $('#problems');
    pb.hidden = probs.length === 0;
    pb.textContent = probs.length ? 'Left out of these figures:\n' + probs.join('\n') : '';
    $('#daemon').textContent = d ? 'daemon pid ' + d.pid + ', version ' + d.version + ', ' + (d.attached || 0) + ' attached interface(s), ' + (d.vms || 0) + ' VM port(s), ' + d.held.length + ' held port(s)' : 'no daemon (shared files only)';
    renderSwitches();
    renderVms();
    renderVxlan();
  }

  const summary = (w) => (w.lookup ? 'lookup ' + w.lookup : 'learning bridge') + (w.rss ? ', RSS' : '') + ', ' + w.ports.length + ' port(s), ' + w.learnedMacs + ' learned MAC(s)';

  // ---- the switch tables (rebuilt when the set of ports changes, updated in place otherwise)
  let shape = '';
  function renderSwitches() {
    const root = $('#switches');
    const now = topo.ports.map((p) => keyOf(p.switch, p.port)).join('|') + '#' + topo.interfaces.map((i) => i.port).join('|') + '#' + topo.vms.map((v) => v.port).join('|');
    const live = new Set(topo.ports.map((p) => keyOf(p.switch, p.port)));
    for (const [k, s] of ports) if (!live.has(k)) { s.chart && s.chart.destroy(); s.box && s.box.remove(); ports.delete(k); }
    for (const p of topo.ports) ensurePort(p.switch, p.port);
    if (now !== shape) {
      shape = now;
      root.replaceChildren();
      if (topo.switches.length === 0) root.append(el('p', { class: 'muted', text: 'No switch yet: open a port (nmts pkt-gen -i vale0:1 -f rx) and it appears here.' }));
      for (const w of topo.switches) {
        const body = el('tbody');
        for (const p of topo.ports.filter((x) => x.switch === w.name)) {
          const d = describe(p);
          const tr = el('tr', { 'data-port': p.port, 'data-switch': p.switch },
            el('td', { text: p.port }), el('td', { class: 'num', text: String(p.index) }),
            el('td', {}, el('span', { class: 'kind ' + d.kind, text: d.kind })), el('td', { text: d.backend }), el('td', { class: 'peer', text: d.peer }),
            el('td', { class: 'num rx' }), el('td', { class: 'num tx' }), el('td', { class: 'num rxb' }), el('td', { class: 'num txb' }),
            el('td', { class: 'num dropsps' }), el('td', { class: 'num drops' }));
          tr.addEventListener('click', () => select(keyOf(p.switch, p.port)));
          body.append(tr);
        }
        const head = el('tr', {}, ...['port', 'idx', 'kind', 'backend', 'peer', 'rx pps', 'tx pps', 'rx bps', 'tx bps', 'drops/s', 'drops'].map((h, i) => el('th', { class: i === 1 || i > 4 ? 'num' : '', text: h })));
        root.append(el('div', { class: 'switch', 'data-switch': w.name },
          el('h2', { text: w.name }, el('span', { class: 'muted summary', text: summary(w) })),
          el('table', {}, el('thead', {}, head), body)));
      }
    } else {
      for (const box of root.querySelectorAll('div.switch')) {
        const w = topo.switches.find((x) => x.name === box.dataset.switch);
        if (w) box.querySelector('.summary').textContent = summary(w);
      }
      for (const tr of root.querySelectorAll('tr[data-port]')) {
        const p = topo.ports.find((x) => x.port === tr.dataset.port && x.switch === tr.dataset.switch);
        if (p) tr.querySelector('.peer').textContent = describe(p).peer;
      }
    }
    for (const [k] of ports) paintRow(k);
  }

  // ---- VM ports not attached to a switch (attached ones are rows of their switch, kind vm)
  function renderVms() {
    const box = $('#vms');
    const loose = topo.vms.filter((v) => !v.port);
    box.hidden = loose.length === 0;
    if (!loose.length) { box.replaceChildren(); return; }
    const body = el('tbody');
    for (const v of loose) {
      body.append(el('tr', { 'data-vm': v.name }, el('td', { text: v.name }), el('td', { text: v.path }), el('td', { text: v.connected ? 'connected' : 'not connected' }),
        el('td', { class: 'num', text: count(v.totals.rxPackets) }), el('td', { class: 'num', text: count(v.totals.txPackets) }),
        el('td', { class: 'num' + (v.totals.drops ? ' drops' : ''), text: count(v.totals.drops) }), el('td', { class: 'num', text: count(v.totals.kicks) }), el('td', { class: 'num', text: count(v.totals.interrupts) })));
    }
    box.replaceChildren(el('h2', { text: 'VM ports not attached to a switch' }),
      el('table', {}, el('thead', {}, el('tr', {}, ...['VM port', 'socket', 'front end', 'rx packets', 'tx packets', 'drops', 'kicks', 'interrupts'].map((h, i) => el('th', { class: i > 2 ? 'num' : '', text: h })))), body));
  }

  // ---- VXLAN ports: configuration, traffic, drops by cause (the title lists them), forwarding table size
  const VX_DROPS = ['tx_too_big', 'tx_short', 'tx_no_remote', 'tx_errors', 'tx_bad_vnet', 'rx_short', 'rx_bad_flags', 'rx_wrong_vni', 'rx_too_big', 'rx_from_self', 'rx_ring_full'];
  function renderVxlan() {
    const box = $('#vxlan');
    box.hidden = topo.vxlan.length === 0;
    if (!topo.vxlan.length) { box.replaceChildren(); return; }
    const body = el('tbody');
    for (const v of topo.vxlan) {
      const c = v.counters || {};
      const causes = VX_DROPS.filter((k) => c[k] > 0).map((k) => k + ' ' + count(c[k]));
      if (v.rxSocketDrops > 0) causes.push('rx_socket_drops ' + count(v.rxSocketDrops));
      const drops = VX_DROPS.reduce((t, k) => t + (c[k] || 0), 0) + (v.rxSocketDrops || 0);
      const fdb = v.fdb ? v.fdb.length + ' (' + v.fdb.filter((e) => e.static).length + ' static)' : v.fdbError || '-';
      body.append(el('tr', { 'data-vxlan': v.name }, el('td', { text: v.name }), el('td', { text: v.spec || v.error || '' }), el('td', { text: v.open ? 'open' : 'closed' }),
        el('td', { class: 'num', text: count(c.rx_frames || 0) }), el('td', { class: 'num', text: count(c.tx_frames || 0) }),
        el('td', { class: 'num' + (drops ? ' drops' : ''), text: count(drops), title: causes.join(', ') || 'no drops' }), el('td', { class: 'num', text: fdb })));
    }
    box.replaceChildren(el('h2', { text: 'VXLAN ports' }),
      el('table', {}, el('thead', {}, el('tr', {}, ...['VXLAN port', 'configuration', 'state', 'rx frames', 'tx frames', 'drops', 'FDB entries'].map((h, i) => el('th', { class: i > 2 ? 'num' : '', text: h })))), body));
  }

  /** A VM port's part of the detail: the front end, features and each queue's counters. */
  function vmDetail(v) {
    const body = el('tbody');
    for (const q of v.queues) {
      body.append(el('tr', { 'data-queue': String(q.index) }, el('td', { text: q.index + ' (' + (q.dir === 'rx' ? 'to the guest' : 'from the guest') + ')' }),
        el('td', { text: q.broken ? 'stopped (bad ring)' : q.running ? 'running' : 'not running' }), el('td', { class: 'num', text: String(q.size) }),
        el('td', { class: 'num', text: count(q.packets) }), el('td', { class: 'num', text: si(q.bytes, 'B') }), el('td', { class: 'num' + (q.drops ? ' drops' : ''), text: count(q.drops) }),
        el('td', { class: 'num kicks', text: count(q.kicks) }), el('td', { class: 'num interrupts', text: count(q.interrupts) })));
    }
    return [el('h3', { text: 'VM port ' + v.name }),
      el('div', { text: 'socket ' + v.path + ' · ' + (v.connected ? 'front end connected' : 'no front end') + ' (' + v.connections + ' connection(s) so far) · features ' + (v.features.join(', ') || 'none') + (v.noPortDrops ? ' · ' + count(v.noPortDrops) + ' dropped while not attached' : '') }),
      el('table', { class: 'queues' }, el('thead', {}, el('tr', {}, ...['queue', 'state', 'size', 'packets', 'bytes', 'drops', 'kicks', 'interrupts'].map((h, i) => el('th', { class: i > 1 ? 'num' : '', text: h })))), body)];
  }

  function ensurePort(sw, name) {
    const k = keyOf(sw, name);
    let s = ports.get(k);
    if (s) return s;
    s = { sw, name, ring: new Ring(POINTS), chart: null, box: null, latest: null };
    ports.set(k, s);
    const latest = el('span', { class: 'latest' });
    const box = el('div', { class: 'chart', 'data-port': name, 'data-switch': sw }, el('h3', {}, el('span', { text: name }), latest));
    $('#charts').append(box);
    s.box = box; s.latest = latest;
    s.chart = new uPlot({
      width: chartWidth(box), height: 170, legend: { show: true, live: false },
      scales: { x: { time: true }, d: { auto: true, range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { size: 60, values: (u, v) => v.map((x) => si(x, '')) }, { scale: 'd', side: 1, size: 64, stroke: '#cf222e', grid: { show: false }, values: (u, v) => v.map((x) => si(x, '')) }],
      series: [{}, { label: 'rx pps', stroke: '#0969da', width: 1.5 }, { label: 'tx pps', stroke: '#8250df', width: 1.5 }, { label: 'drops/s', stroke: '#cf222e', width: 1.5, scale: 'd', fill: 'rgba(207,34,46,0.12)' }],
    }, s.ring.data(), box);
    return s;
  }

  const chartWidth = (box) => Math.max(280, box.clientWidth - 18);
  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { for (const s of ports.values()) s.chart.setSize({ width: chartWidth(s.box), height: 170 }); }, 150);
  });

  function paintRow(k) {
    const s = ports.get(k);
    const tr = document.querySelector('#switches tr[data-port="' + CSS.escape(s.name) + '"][data-switch="' + CSS.escape(s.sw) + '"]');
    const r = s.rates;
    if (!tr || !r) return;
    tr.querySelector('.rx').textContent = si(r.rxPps, 'pps');
    tr.querySelector('.tx').textContent = si(r.txPps, 'pps');
    tr.querySelector('.rxb').textContent = si(r.rxBps * 8, 'bps');
    tr.querySelector('.txb').textContent = si(r.txBps * 8, 'bps');
    tr.querySelector('.dropsps').textContent = si(r.dropsPs, '/s');
    tr.querySelector('.drops').textContent = count(r.drops);
    tr.classList.toggle('dropping', r.dropsPs > 0);
    tr.classList.toggle('dropped', r.drops > 0);
    tr.classList.toggle('selected', k === selected);
  }

  // ---- the stream: one sample per port per second
  function onRates(msg) {
    if (msg.error) return;
    lastStream = Date.now();
    setStatus('connected'); // (again: a stream that was silent for a while said "disconnected")
    const t = msg.time / 1000;
    let unknown = false;
    const seen = new Set();
    for (const r of msg.ports) {
      const k = keyOf(r.switch, r.port);
      seen.add(k);
      if (!ports.has(k)) { unknown = true; continue; }
      const s = ports.get(k);
      s.rates = r;
      s.ring.push(t, r.rxPps, r.txPps, r.dropsPs);
      s.chart.setData(s.ring.data());
      s.latest.replaceChildren(el('span', { text: 'rx ' + si(r.rxPps, 'pps') + ' · tx ' + si(r.txPps, 'pps') + ' · ' }), el('span', { class: r.dropsPs > 0 ? 'd' : '', text: 'drops ' + si(r.dropsPs, '/s') }));
      s.box.classList.toggle('dropping', r.dropsPs > 0);
      paintRow(k);
    }
    for (const k of ports.keys()) if (!seen.has(k)) unknown = true;
    $('#updated').textContent = 'updated ' + new Date(msg.time).toLocaleTimeString();
    if (unknown) void refreshTopology();
  }

  // ---- a port's detail: counters by cause, rings with occupancy, learned MACs, its interface
  function select(k) {
    selected = selected === k ? null : k;
    for (const kk of ports.keys()) paintRow(kk);
    void renderDetail();
  }

  async function renderDetail() {
    const box = $('#detail');
    if (!selected) { box.hidden = true; box.replaceChildren(); return; }
    const s = ports.get(selected);
    if (!s) { selected = null; box.hidden = true; return; }
    const [ps, macs, vms] = await Promise.all([getJson('/api/ports'), getJson('/api/macs'), getJson('/api/vms')]);
    const p = ps && ps.ports.find((x) => x.switch === s.sw && x.port === s.name);
    if (!p || keyOf(p.switch, p.port) !== selected) return;
    if (vms) topo.vms = vms.vms;
    const d = describe(p);
    const close = el('button', { type: 'button', text: 'close' });
    close.addEventListener('click', () => select(selected));
    const dr = p.drops;
    const rings = el('tbody');
    for (const r of p.rings) {
      const pct = r.slots > 1 ? Math.min(100, (100 * r.occupancy) / (r.slots - 1)) : 0;
      const fill = el('i');
      fill.style.width = pct.toFixed(0) + '%';
      const bar = el('span', { class: 'bar' + (pct >= 99 ? ' full' : '') }, fill);
      rings.append(el('tr', {}, el('td', { text: r.direction + ' ' + r.ring }), el('td', { class: 'num', text: String(r.slots) }),
        el('td', {}, bar, document.createTextNode(r.occupancy + ' (' + pct.toFixed(0) + ' %)')),
        el('td', { class: 'num', text: count(r.packets) }), el('td', { class: 'num', text: si(r.bytes, 'B') }),
        el('td', { class: 'num' + (r.drops ? ' drops' : ''), text: r.direction === 'tx' ? count(r.drops) + ' undelivered' : count(r.ringFull) + ' full, ' + count(r.badSlot) + ' bad slot' })));
    }
    const learned = macs ? (macs.switches.find((w) => w.name === p.switch) || { macs: [] }).macs.filter((m) => m.index === p.index) : [];
    const parts = [
      el('h2', { text: p.port + ' (index ' + p.index + ', ' + d.kind + ', ' + d.backend + ', ' + d.peer + ')' }, close),
      el('div', { text: 'rx ' + count(p.rxPackets) + ' packets, ' + si(p.rxBytes, 'B') + ' · tx ' + count(p.txPackets) + ' packets, ' + si(p.txBytes, 'B') + ' · openers ' + p.openers + ' · monitors ' + p.monitors }),
      el('div', { class: dr.undelivered + dr.ringFull + dr.badSlot + dr.monitorFull ? 'drops' : '', text: 'drops: tx undelivered ' + count(dr.undelivered) + ' · rx ring full ' + count(dr.ringFull) + ' · bad slot ' + count(dr.badSlot) + ' · monitor full ' + count(dr.monitorFull) }),
      el('h3', { text: 'Rings' }),
      el('table', {}, el('thead', {}, el('tr', {}, ...['ring', 'slots', 'occupancy', 'packets', 'bytes', 'drops'].map((h, i) => el('th', { class: i === 1 || i > 2 ? 'num' : '', text: h })))), rings),
    ];
    if (d.iface) {
      const k = d.iface.kernelDrops;
      parts.push(el('h3', { text: 'Interface ' + d.iface.interface }),
        el('div', { text: d.iface.lines.join(' · ') }),
        el('div', { text: 'kernel drops: rx ring full ' + count(k.rxRingFull) + ' · rx other ' + count(k.rxOther) + ' · tx invalid ' + count(k.txInvalid) + ' · host TAP ' + count(k.host) }));
    }
    if (d.vm) parts.push(...vmDetail(d.vm));
    parts.push(el('h3', { text: 'Learned MACs (' + learned.length + ')' }),
      learned.length ? el('div', { class: 'macs' }, ...learned.map((m) => el('div', { text: m.mac }))) : el('div', { class: 'muted', text: 'none: the switch has seen no frame from this port' }));
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  // ---- connection state
  function setStatus(s) {
    const e = $('#status');
    if (e.textContent === s) return;
    e.className = 'status ' + s;
    e.textContent = s;
  }

  let es = null;
  function connect() {
    es = new EventSource('/api/stream');
    es.addEventListener('open', () => { lastStream = Date.now(); setStatus('connected'); void refreshTopology(); });
    es.addEventListener('error', () => setStatus('disconnected'));
    es.addEventListener('rates', (ev) => { try { onRates(JSON.parse(ev.data)); } catch (e) { console.error(e); } });
  }
  // EventSource retries by itself; if it gave up (an answer that was not a stream), start again
  setInterval(() => { if (es.readyState === EventSource.CLOSED) { es.close(); connect(); } }, 5000);

  setInterval(() => { if (Date.now() - lastStream < 3000) void refreshTopology(); }, TOPOLOGY_MS);
  setInterval(() => { if (selected && Date.now() - lastStream < 3000) void renderDetail(); }, 1000);
  // a stream that stays silent (a server that hangs, a network that drops packets) is as good as gone
  setInterval(() => { if (lastStream && Date.now() - lastStream > 3500) setStatus('disconnected'); }, 1000);

  window.nmtsDashboard = {
    /** For tests and the console: the uPlot chart of a port, and its latest samples. */
    chart: (port) => { for (const s of ports.values()) if (s.name === port) return s.chart; return null; },
    latest: (port) => { for (const s of ports.values()) if (s.name === port) return { rxPps: s.ring.last(1), txPps: s.ring.last(2), dropsPs: s.ring.last(3), points: s.ring.len }; return null; },
  };

  void refreshTopology();
  connect();
})();
