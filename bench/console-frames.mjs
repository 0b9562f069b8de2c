#!/usr/bin/env node
// Browser benchmark for the console: frame times of the operator's live map with 10,000 devices
// while alerts stream in. Run by hand (not in CI), after `scripts/test.sh` has built the binary and
// the console:
//
//   node bench/console-frames.mjs [--devices 10000] [--seconds 30] [--alerts-per-second 5]
//
// It starts `glasshouse demo --speed 60` on a fresh data directory, registers extra plate readers
// and cameras until the registry holds --devices devices (through the public API, as an
// administrator would), opens the operator's console in headless Chromium (the test flags, so
// software rendering: --disable-gpu), injects hotlist hits at a steady rate so alerts arrive over
// the live stream on top of the demo's own, and records every animation frame's duration with
// requestAnimationFrame for --seconds. Prints one JSON line with the percentiles; BENCHMARKS.md
// keeps the figures with their conditions. The target (issue #6) is under 50 ms per frame.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const { chromium } = createRequire(join(root, 'console', 'package.json'))('playwright-core');
const binary = process.env.GLASSHOUSE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'glasshouse');
const args = Object.fromEntries(process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const DEVICES = Number(args.devices ?? 10_000);
const SECONDS = Number(args.seconds ?? 30);
const ALERTS_PER_SECOND = Number(args['alerts-per-second'] ?? 5);
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const freePort = () => new Promise((done, fail) => {
  const server = createServer();
  server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => done(port)); });
  server.on('error', fail);
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), 'glasshouse-frames-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const demo = spawn(binary, ['demo', '--speed', '60', '--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${port}`, '--pg-listen', '127.0.0.1:0', '--tokens-out', join(dir, 'tokens.json')], {
  stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' },
});
let browser;
try {
  for (let i = 0; ; i += 1) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* starting */ }
    if (i > 600) throw new Error('the demo did not start');
    await sleep(100);
  }
  const tokens = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8'));
  const call = async (method, path, token, body, type = 'application/json') => {
    const response = await fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type }, body });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };

  // Devices spread over the demo city's box: readers and cameras (cameras draw a field of view).
  let { devices } = await call('GET', '/v1/devices', tokens.administrator);
  while (!devices.some((d) => d.type === 'plate_reader')) { await sleep(200); ({ devices } = await call('GET', '/v1/devices', tokens.administrator)); }
  const lats = devices.filter((d) => d.lat !== undefined).map((d) => d.lat);
  const lons = devices.filter((d) => d.lon !== undefined).map((d) => d.lon);
  const box = [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
  const started = Date.now();
  const missing = Math.max(0, DEVICES - devices.length);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    for (let i = next++; i < missing; i = next++) {
      const camera = i % 3 === 0;
      const device = {
        type: camera ? 'camera' : 'plate_reader',
        lat: box[1] + Math.random() * (box[3] - box[1]), lon: box[0] + Math.random() * (box[2] - box[0]),
        ...(camera ? { bearing_deg: Math.floor(Math.random() * 360), fov_deg: 60, range_m: 60 } : {}),
      };
      await call('PUT', `/v1/devices/bench-${i}`, tokens.administrator, JSON.stringify(device));
    }
  }));
  const registered = (await call('GET', '/v1/devices', tokens.administrator)).devices.length;
  const registerSeconds = (Date.now() - started) / 1000;

  let { hotlists } = await call('GET', '/v1/hotlists', tokens.administrator);
  while (!hotlists.length) { await sleep(200); ({ hotlists } = await call('GET', '/v1/hotlists', tokens.administrator)); }
  const { entries } = await call('GET', `/v1/hotlists/${hotlists[0].id}/entries`, tokens.administrator);
  const readers = devices.filter((d) => d.type === 'plate_reader');

  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(base);
  await page.fill('#token', tokens.operator);
  await page.click('button[type=submit]');
  await page.waitForSelector('body[data-map-ready="true"]', { timeout: 120_000 });
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 60_000 });

  // Steady hotlist hits on top of the demo's own alerts, so the queue and the map keep changing.
  let injected = 0;
  const injector = ALERTS_PER_SECOND > 0 && setInterval(() => {
    const reader = readers[injected % readers.length];
    const entry = entries[injected % entries.length];
    const read = { id: `frames-${injected}`, kind: 'plate_read', device_id: reader.id, observed_at: new Date().toISOString(), plate: entry.plate, region: 'FI', confidence: 0.9 };
    injected += 1;
    call('POST', '/v1/observations', tokens.ingest, JSON.stringify(read) + '\n', 'application/x-ndjson').catch(() => undefined);
  }, 1000 / ALERTS_PER_SECOND);

  const alertsBefore = await page.locator('#alerts li').count();
  const frames = await page.evaluate((seconds) => new Promise((done) => {
    const durations = [];
    let last = performance.now();
    const end = last + seconds * 1000;
    const tick = (now) => {
      durations.push(now - last);
      last = now;
      if (now < end) requestAnimationFrame(tick); else done(durations);
    };
    requestAnimationFrame(tick);
  }), SECONDS);
  if (injector) clearInterval(injector);
  const alertsShown = await page.locator('#alerts li').count();
  await page.screenshot({ path: join(dir, 'frames.png') });

  const sorted = [...frames].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const result = {
    devices: registered, register_seconds: registerSeconds, seconds: SECONDS, frames: frames.length,
    fps: frames.length / SECONDS, frame_ms_p50: at(0.5), frame_ms_p95: at(0.95), frame_ms_p99: at(0.99), frame_ms_max: sorted[sorted.length - 1],
    frames_over_50ms: frames.filter((f) => f > 50).length, hits_injected: injected, alerts_listed_before: alertsBefore, alerts_listed_after: alertsShown,
    chromium_flags: CHROMIUM_FLAGS.join(' '),
  };
  console.log(JSON.stringify(result));
} finally {
  await browser?.close();
  demo.kill('SIGTERM');
  await new Promise((r) => demo.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
