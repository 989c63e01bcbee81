// What a scrape costs: 200 concurrent scrapes of /metrics read the shared files once and make
// the text once (nmts_http_scrapes_total{result="built"} vs "cached"); 200 concurrent GETs of a
// JSON endpoint make its body once; the rates stream reuses the snapshot of the scrapes; the
// shm directory is listed again only when a file was created or removed (core/dir-names.ts);
// and the connection limit refuses and counts the connections over it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMetricsServer, type MetricsServer } from '../src/apps/http/server.js';
import type { MetricsSnapshot } from '../src/vale/metrics.js';
import { dirNames, dirReads } from '../src/core/dir-names.js';

const servers: MetricsServer[] = [];
const dir = mkdtempSync(join(tmpdir(), 'nmts-dirnames-'));
after(async () => { for (const s of servers) await s.close(); rmSync(dir, { recursive: true, force: true }); });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A provider that counts its snapshots (one switch, one port, counters growing by 1000 each read). */
function counting(): { snapshot(): MetricsSnapshot; reads: number; extraCalls: number; extras: Record<string, () => unknown> } {
  const p = {
    reads: 0, extraCalls: 0,
    snapshot(): MetricsSnapshot {
      p.reads++;
      const n = p.reads * 1000;
      return {
        time: Date.now(), mono: performance.now(), skipped: [], problems: [],
        switches: [{ name: 'valeC', file: '/x', rss: false, lookup: null, learnedMacs: 0, ports: [{
          switch: 'valeC', port: 'valeC:a', index: 0, gen: 1, openers: 1, monitors: 0, learnedMacs: 0,
          rxPackets: n, rxBytes: 60 * n, txPackets: 0, txBytes: 0,
          drops: { undelivered: 0, badVnetHdr: 0, ringFull: 0, badSlot: 0, monitorFull: 0 }, rings: [],
        }] }],
      };
    },
    extras: { thing: () => { p.extraCalls++; return { calls: p.extraCalls }; } },
  };
  return p;
}

test('200 concurrent scrapes make one snapshot and one text; JSON bodies are made once per interval; the stream reuses the snapshot', async () => {
  const prov = counting();
  // a long interval: 200 clients on a loaded 2-core machine may take seconds, all within it
  const s = await startMetricsServer(prov, { port: 0, cacheMs: 60_000, intervalMs: 1000 });
  servers.push(s);
  const texts = await Promise.all(Array.from({ length: 200 }, () => fetch(`${s.url}/metrics`).then((r) => r.text())));
  assert.ok(texts.every((t) => t === texts[0]), 'every client got the same text');
  assert.match(texts[0], /^nmts_port_packets_total\{switch="valeC",port="valeC:a",direction="rx"\} 1000$/m);
  assert.equal(prov.reads, 1, 'the files were read once for 200 scrapes');
  const h1 = await (await fetch(`${s.url}/api/http`)).json() as { scrapes: { built: number; cached: number }; scrapeSeconds: { count: number; last: number } };
  assert.equal(h1.scrapes.built + h1.scrapes.cached, 200);
  assert.deepEqual(h1.scrapes, { built: 1, cached: 199 });
  assert.equal(h1.scrapeSeconds.count, h1.scrapes.built);
  assert.ok(h1.scrapeSeconds.last > 0 && h1.scrapeSeconds.last < 5);

  // JSON: the same snapshot, one body for 200 clients (the extra is called once)
  const readsBefore = prov.reads;
  const bodies = await Promise.all(Array.from({ length: 200 }, () => fetch(`${s.url}/api/ports`).then((r) => r.text())));
  assert.ok(bodies.every((b) => b === bodies[0]));
  const extras = await Promise.all(Array.from({ length: 200 }, () => fetch(`${s.url}/api/thing`).then((r) => r.json() as Promise<{ calls: number }>)));
  assert.ok(extras.every((e) => e.calls === 1), 'one body for the interval');
  assert.equal(prov.extraCalls, 1);
  // the stream's first event comes from the snapshot the scrapes used
  const ac = new AbortController();
  const res = await fetch(`${s.url}/api/stream`, { signal: ac.signal });
  const reader = res.body!.getReader();
  let got = '';
  while (!/event: rates\ndata: .*\n\n/.test(got)) got += new TextDecoder().decode((await reader.read()).value);
  ac.abort();
  assert.equal(prov.reads, readsBefore, 'the stream and the JSON used the scrapes\' snapshot');

  const text = await (await fetch(`${s.url}/metrics`)).text();
  for (const [name, type] of [['nmts_http_requests_total', 'counter'], ['nmts_http_refused_total', 'counter'], ['nmts_http_scrapes_total', 'counter'],
    ['nmts_http_scrape_duration_seconds', 'histogram'], ['nmts_http_connections', 'gauge'], ['nmts_http_streams', 'gauge']]) {
    assert.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
  }
  assert.equal(text, texts[0], 'still the text of the interval');
  const h2 = await (await fetch(`${s.url}/api/http`)).json() as { requests: Record<string, Record<string, number>> };
  assert.equal(h2.requests.metrics['200'], 201);
  assert.equal(h2.requests.api['200'], 401); // 200 + 200 + the first /api/http
  assert.equal(h2.requests.stream['200'], 1);
});

test('connections over the limit are refused and counted', async () => {
  const s = await startMetricsServer(counting(), { port: 0, maxConnections: 2 });
  servers.push(s);
  const socks: Socket[] = [];
  const closed: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const k = connect(s.port, '127.0.0.1');
    k.on('error', () => {});
    const n = i;
    closed[n] = false;
    k.on('close', () => { closed[n] = true; });
    socks.push(k);
    await new Promise((r) => k.once('connect', r));
  }
  await sleep(200);
  assert.deepEqual(closed, [false, false, true, true], 'the connections over 2 are cut');
  for (const k of socks) k.destroy();
  await sleep(100);
  const h = await (await fetch(`${s.url}/api/http`)).json() as { refused: Record<string, number> };
  assert.equal(h.refused.too_many_connections, 2);
});

test('the shm directory is listed again only when a file was created or removed', async () => {
  writeFileSync(join(dir, 'a'), '');
  assert.deepEqual(dirNames(dir), ['a']);
  writeFileSync(join(dir, 'b'), ''); // at once: the same clock tick as the listing, maybe
  assert.deepEqual(dirNames(dir), ['a', 'b'], 'a change right after a listing is seen');
  await sleep(120);
  const first = dirNames(dir);
  const reads = dirReads.count;
  for (let i = 0; i < 100; i++) assert.equal(dirNames(dir), first, 'the same listing, not read again');
  assert.equal(dirReads.count, reads);
  rmSync(join(dir, 'a'));
  assert.deepEqual(dirNames(dir), ['b']);
  assert.equal(dirReads.count, reads + 1);
});
