// Browser test: the console in headless Chromium against a live `glasshouse demo`.
// It signs in as an operator, waits for the map to render, injects a hotlist hit through the public
// API and waits for that alert to arrive live in the queue. Screenshots go to the artifacts folder.
// Any console error in the page fails the test.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, createHmac, X509Certificate } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..', '..');
const binary = process.env.GLASSHOUSE_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'glasshouse');
const artifacts = process.env.GLASSHOUSE_ARTIFACTS ?? join(root, 'test-artifacts');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let demo;
let dataDir;
let base;
let tokens;
let browser;

/** Now plus `days` days as an ISO string (UTC): the tests hold no absolute date the server compares with now. */
function daysFromNow(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString();
}

async function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => done(port)); });
    server.on('error', fail);
  });
}

async function waitFor(check, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { const value = await check(); if (value) return value; } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function call(method, path, token, body, type = 'application/json') {
  const response = await fetch(`${base}${path}`, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': type }, body });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

async function openConsole(role) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(base);
  await page.fill('#token', tokens[role]);
  await page.click('button[type=submit]');
  return { page, errors };
}

before(async () => {
  assert.ok(existsSync(binary), `build the binary first: ${binary} is missing`);
  mkdirSync(artifacts, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'glasshouse-e2e-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  dataDir = join(dir, 'data');
  demo = spawn(binary, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--pg-listen', '127.0.0.1:0', '--tokens-out', join(dir, 'tokens.json')], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' },
  });
  await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 'the demo server');
  tokens = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8'));
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS });
});

after(async () => {
  await browser?.close();
  demo?.kill('SIGTERM');
});

test('an operator sees the map and a hotlist hit arrive live', async () => {
  const { page, errors } = await openConsole('operator');
  await page.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 30_000 });

  const { hotlists } = await waitFor(async () => {
    const body = await call('GET', '/v1/hotlists', tokens.administrator);
    return body.hotlists.length ? body : null;
  }, 'the demo hotlist');
  const { entries } = await call('GET', `/v1/hotlists/${hotlists[0].id}/entries`, tokens.administrator);
  const plate = entries[0].plate;
  const id = `e2e-${Date.now()}`;
  const read = { id, kind: 'plate_read', device_id: 'openalpr:001', observed_at: new Date().toISOString(), plate, region: 'FI', confidence: 0.93 };
  const outcome = await call('POST', '/v1/observations', tokens.ingest, JSON.stringify(read) + '\n', 'application/x-ndjson');
  assert.equal(outcome.accepted, 1);

  const card = page.locator(`li[data-observation-id="${id}"]`);
  try {
    await card.waitFor({ timeout: 30_000 });
  } catch (error) {
    await page.screenshot({ path: join(artifacts, 'operator-live-map-failure.png') });
    throw new Error(`${error.message}\npage errors: ${errors.join('\n')}`);
  }
  assert.match(await card.innerText(), new RegExp(plate));
  await card.click();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(artifacts, 'operator-live-map.png') });
  // The sensors' latest values are on the map (shown when a sensor is clicked).
  const { readings } = await call('GET', '/v1/sensors/latest', tokens.operator);
  assert.ok(readings.length > 0 && readings.every((r) => r.quantity && r.unit), 'the demo sensors report');
  await page.waitForFunction(() => Number(document.body.dataset.sensorReadings) > 0, null, { timeout: 20_000 });

  // Acknowledge, then confirm: the confirm button stays disabled until both checks are ticked.
  await card.locator('button[data-action="acknowledge"]').click();
  await page.locator(`li[data-observation-id="${id}"][data-status="acknowledged"]`).waitFor();
  const confirm = card.locator('button[data-action="confirm"]');
  assert.equal(await confirm.isDisabled(), true);
  await card.locator('input[data-check="visual"]').check();
  assert.equal(await confirm.isDisabled(), true);
  await card.locator('input[data-check="source"]').check();
  await confirm.click();
  await page.locator(`li[data-observation-id="${id}"][data-status="confirmed"]`).waitFor();
  assert.match(await card.innerText(), /confirmed by demo-operator/);
  await page.screenshot({ path: join(artifacts, 'operator-confirmed-hit.png') });
  const canvas = await page.locator('.maplibregl-canvas').boundingBox();
  assert.ok(canvas && canvas.width > 400 && canvas.height > 300, 'the map canvas is laid out');
  assert.deepEqual(errors, []);
  await page.close();
});

test('an operator opens the plate and vehicle crops a reader agent sent with a hit, each viewing logged', async () => {
  const { page, errors } = await openConsole('operator');
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 60_000 });
  // Real JPEGs for the crops: two small screenshots of the page itself.
  const plateCrop = await page.screenshot({ type: 'jpeg', clip: { x: 0, y: 0, width: 60, height: 20 } });
  const vehicleCrop = await page.screenshot({ type: 'jpeg', clip: { x: 0, y: 0, width: 80, height: 60 } });
  await call('PUT', '/v1/devices/openalpr:4401', tokens.administrator, JSON.stringify({ type: 'plate_reader', lat: 60.17, lon: 24.94 }));
  const { hotlists } = await call('GET', '/v1/hotlists', tokens.administrator);
  const { entries } = await call('GET', `/v1/hotlists/${hotlists[0].id}/entries`, tokens.administrator);
  const id = `agent-4401-${Date.now()}`;
  const group = { data_type: 'alpr_group', camera_id: 4401, epoch_start: Date.now() - 5_000, best_uuid: id,
    best_plate_number: entries[1].plate, best_confidence: 94.2, best_plate: { plate_crop_jpeg: plateCrop.toString('base64') },
    vehicle_crop_jpeg: vehicleCrop.toString('base64'),
    vehicle: { make: [{ name: 'toyota', confidence: 87.1 }], color: [{ name: 'silver-gray', confidence: 66 }], body_type: [] } };
  assert.equal((await call('POST', '/v1/ingest/openalpr', tokens.ingest, JSON.stringify(group))).accepted, 1);
  const card = page.locator(`li[data-observation-id="${id}"]`);
  await card.waitFor({ timeout: 30_000 });
  assert.equal(await card.locator('.evidence .vehicle').innerText(), 'toyota (87 %) · silver gray (66 %)', "the reader's description beside the crops");
  const logSize = (await call('GET', '/v1/audit/checkpoint', tokens.auditor)).size;
  await card.locator('.crops button').click();
  for (const role of ['plate', 'vehicle']) {
    const image = card.locator(`img.crop-${role}`);
    await image.waitFor({ timeout: 15_000 });
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await image.elementHandle());
  }
  assert.equal(await card.locator('img.crop-vehicle').evaluate((el) => el.naturalWidth), 80, 'the vehicle crop as the agent sent it');
  await page.screenshot({ path: join(artifacts, 'operator-hit-crops.png') });
  const since = (await call('GET', `/v1/audit/entries?from=${logSize}&limit=1000`, tokens.auditor)).entries.map((e) => JSON.parse(e.entry));
  assert.equal(since.filter((e) => e.action === 'alert.image_view' && e.details.alert_id).length, 2, 'each image viewed is one audit entry');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a reader that goes quiet raises a device-silent alert, greys out on the map, and recovers when it reports', async () => {
  const { page, errors } = await openConsole('operator');
  await page.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 30_000 });
  const id = `lpr-quiet-${Date.now()}`;
  await call('PUT', `/v1/devices/${id}`, tokens.administrator, JSON.stringify({ type: 'plate_reader', lat: 60.171, lon: 24.941 }));
  await call('POST', '/v1/rules', tokens.administrator, JSON.stringify({ type: 'device_silent', name: 'e2e quiet reader', minutes: 1, devices: [id] }));
  // Its last read was two minutes ago: past the rule's minute, so the next check calls it silent.
  const read = (n, msAgo) => JSON.stringify({ id: `${id}-${n}`, kind: 'plate_read', device_id: id, observed_at: new Date(Date.now() - msAgo).toISOString(), plate: 'QUIET1' }) + '\n';
  assert.equal((await call('POST', '/v1/observations', tokens.ingest, read(1, 120_000), 'application/x-ndjson')).accepted, 1);
  const card = page.locator('li.alert', { hasText: 'Device silent' }).filter({ hasText: id });
  await card.waitFor({ timeout: 30_000 });
  await page.waitForFunction((device) => (document.body.dataset.silentDevices ?? '').split(' ').includes(device), id, { timeout: 15_000 });
  await page.screenshot({ path: join(artifacts, 'operator-device-silent.png') });
  // It reports again: the system closes the alert and the map stops marking it.
  assert.equal((await call('POST', '/v1/observations', tokens.ingest, read(2, 0), 'application/x-ndjson')).accepted, 1);
  await page.waitForFunction((device) => !(document.body.dataset.silentDevices ?? '').split(' ').includes(device), id, { timeout: 30_000 });
  const { devices } = await call('GET', '/v1/devices', tokens.administrator);
  assert.ok(devices.find((d) => d.id === id).last_observation_at, 'the registry shows when it was last heard');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a gunshot opens a situation whose cameras and nearby reads an operator can open', async () => {
  const { page, errors } = await openConsole('operator');
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 60_000 });
  const { devices } = await call('GET', '/v1/devices', tokens.administrator);
  const array = devices.find((d) => d.type === 'gunshot_array');
  assert.ok(array, 'the demo registers gunshot arrays');
  // A reader beside the array saw a car a minute before the shots.
  await call('PUT', '/v1/devices/lpr-e2e-shot', tokens.administrator, JSON.stringify({ type: 'plate_reader', lat: array.lat, lon: array.lon }));
  const read = { id: `e2e-near-${Date.now()}`, kind: 'plate_read', device_id: 'lpr-e2e-shot', observed_at: new Date(Date.now() - 60_000).toISOString(), plate: 'NEAR01', region: 'FI', confidence: 0.9 };
  assert.equal((await call('POST', '/v1/observations', tokens.ingest, JSON.stringify(read) + '\n', 'application/x-ndjson')).accepted, 1);
  const id = `e2e-shot-${Date.now()}`;
  const shot = { id, kind: 'gunshot', device_id: array.id, observed_at: new Date().toISOString(), rounds: 5 };
  const outcome = await call('POST', '/v1/observations', tokens.ingest, JSON.stringify(shot) + '\n', 'application/x-ndjson');
  assert.equal(outcome.accepted, 1);
  const card = page.locator(`li[data-observation-id="${id}"]`);
  await card.waitFor({ timeout: 30_000 });
  assert.match(await card.innerText(), /Gunshot detected, 5 rounds/);
  await card.locator('button.open-situation').click();
  await card.locator('.situation-count').waitFor({ timeout: 30_000 });
  assert.match(await card.locator('.situation-count').innerText(), /plate reads within 300 m and ±5 min · logged as audit entry \d+/);
  assert.match(await card.locator('table.situation-reads').innerText(), /NEAR01/);
  const ticks = Number(await card.locator('.situation-timeline').getAttribute('data-ticks'));
  assert.ok(ticks >= 1, 'the nearby read is on the timeline');
  assert.equal(await card.locator('.situation-timeline .timeline-marker').count(), 1, 'the trigger is marked');
  assert.match(await card.locator('button.show-situation').innerText(), new RegExp(`Show ${ticks} on the map`));
  await card.locator('button.show-situation').click();
  await page.screenshot({ path: join(artifacts, 'operator-situation.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the demo geofence is on the map and a listed vehicle entering it raises a geofence alert', async () => {
  const { page, errors } = await openConsole('operator');
  await page.waitForSelector('body[data-geofences="1"]', { timeout: 60_000 });
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 30_000 });
  const { rules } = await call('GET', '/v1/rules', tokens.operator);
  const fence = rules.find((r) => r.type === 'geofence');
  const [west, south] = fence.area.coordinates[0][0];
  const [east, north] = fence.area.coordinates[0][2];
  const inside = (d) => d.lon > west && d.lon < east && d.lat > south && d.lat < north;
  const { devices } = await call('GET', '/v1/devices', tokens.administrator);
  const readers = devices.filter((d) => d.type === 'plate_reader');
  const [outer, inner] = [readers.find((d) => !inside(d)), readers.find(inside)];
  assert.ok(outer && inner, 'the demo has readers inside and outside the centre');
  const { hotlists } = await call('GET', '/v1/hotlists', tokens.administrator);
  const { entries } = await call('GET', `/v1/hotlists/${hotlists[0].id}/entries`, tokens.administrator);
  const plate = entries[entries.length - 1].plate;
  const stamp = Date.now();
  const read = (id, device, at) => JSON.stringify({ id, kind: 'plate_read', device_id: device.id, observed_at: new Date(at).toISOString(), plate, region: 'FI', confidence: 0.95 });
  const lines = [read(`e2e-out-${stamp}`, outer, stamp - 2000), read(`e2e-in-${stamp}`, inner, stamp - 1000)].join('\n') + '\n';
  assert.equal((await call('POST', '/v1/observations', tokens.ingest, lines, 'application/x-ndjson')).accepted, 2);
  const card = page.locator(`li[data-observation-id="e2e-in-${stamp}"]`).filter({ hasText: 'entered city centre' });
  await card.waitFor({ timeout: 30_000 });
  assert.match(await card.innerText(), new RegExp(`Listed vehicle ${plate} entered city centre`));
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, 'operator-geofence.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('an analyst sees descriptive dashboards built from aggregate SQL and efficacy figures', async () => {
  const { page, errors } = await openConsole('analyst');
  await page.waitForSelector('body[data-dashboards="ready"]', { timeout: 60_000 });
  assert.equal(await page.locator('.dashboards .error').count(), 0, await page.locator('.dashboards').innerText());
  for (const id of ['dash-hourly', 'dash-efficacy', 'dash-sensors', 'dash-heatmap']) {
    assert.equal(await page.locator(`#${id}`).count(), 1, `${id} is shown`);
  }
  // Plate reads are drawn once they are in segments (SQL reads segments, flushed every few seconds):
  // the demo's feed and the reads earlier tests posted get there within a few reloads.
  const drawn = () => page.locator('#dash-hourly rect[data-kind="plate_read"]').evaluateAll((rects) => rects.filter((r) => Number(r.getAttribute('height')) > 0).length);
  const bars = await waitFor(async () => {
    const n = await drawn();
    if (n > 0) return n;
    await page.reload();
    await page.waitForSelector('body[data-dashboards="ready"]', { timeout: 60_000 });
    return null;
  }, 'plate reads per hour drawn', 90_000);
  assert.ok(bars > 0);
  assert.equal(await page.locator('#dash-heatmap rect').count(), 7 * 24);
  assert.equal(await page.locator('.maplibregl-canvas').count(), 0, 'no map of raw data for analysts');
  await page.screenshot({ path: join(artifacts, 'analyst-dashboards.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('an administrator sees the rules with their counts and switches one off and on, each switch logged', async () => {
  const { page, errors } = await openConsole('administrator');
  const threshold = page.locator('#rules li').filter({ hasText: 'Sensor threshold' }).first();
  await threshold.waitFor({ timeout: 60_000 });
  assert.match(await threshold.innerText(), /evaluated · \d+ alerts since start/);
  assert.equal(await page.locator('#rules li').filter({ hasText: 'Situation' }).count(), 1, 'the built-in situation rule is listed');
  assert.match(await page.locator('#sinks').innerText(), /No outbound sinks/);
  const id = await threshold.getAttribute('data-rule-id');
  await threshold.locator('button[data-action="toggle"]').click();
  await page.locator(`li[data-rule-id="${id}"][data-enabled="false"]`).waitFor();
  const { rules } = await call('GET', '/v1/rules', tokens.administrator);
  assert.equal(rules.find((r) => r.id === id).enabled, false, 'the server has it off');
  await page.screenshot({ path: join(artifacts, 'administrator-rules.png') });
  await page.locator(`li[data-rule-id="${id}"] button[data-action="toggle"]`).click();
  await page.locator(`li[data-rule-id="${id}"][data-enabled="true"]`).waitFor();
  assert.deepEqual(errors, []);
  await page.close();
});

test('a custodian proposes a retention change, a supervisor approves it in the console, and it applies', async () => {
  const { page, errors } = await openConsole('custodian');
  await page.waitForSelector('#retention-windows tr[data-kind="plate_read"]');
  assert.equal(await page.locator('#map').count(), 0, 'no map of raw data for a custodian');
  assert.equal(await page.locator('#alerts').count(), 0);
  await page.selectOption('#retention-kind', 'plate_read');
  await page.fill('#retention-days', '21');
  await page.fill('#retention-reason', 'council resolution 2026-41 shortens plate retention');
  await page.click('#retention-form button[type=submit]');
  const mine = page.locator('#retention-changes li[data-status="proposed"]');
  await mine.waitFor();
  assert.match(await mine.innerText(), /cannot decide your own proposal/);
  await page.screenshot({ path: join(artifacts, 'custodian-retention-proposed.png'), fullPage: true });

  const supervisor = await openConsole('supervisor');
  const pending = supervisor.page.locator('#retention-changes li[data-status="proposed"]');
  await pending.waitFor({ timeout: 30_000 });
  assert.match(await pending.innerText(), /plate read 21 days/);
  await pending.locator('button[data-action="approve"]').click();
  await supervisor.page.locator('#retention-changes li[data-status="applied"]').waitFor();
  await supervisor.page.screenshot({ path: join(artifacts, 'supervisor-retention-approved.png') });
  assert.deepEqual(supervisor.errors, []);
  await supervisor.page.close();

  // A legal hold proposed here waits for the supervisor too.
  await page.fill('#hold-case', 'HPD-2026-0042');
  await page.selectOption('#hold-authority', 'warrant');
  await page.fill('#hold-reference', 'WRT-2026-0042');
  await page.fill('#hold-plates', 'ABC123');
  // Dates relative to today: the server refuses a hold that has already lapsed.
  await page.fill('#hold-from', daysFromNow(-36).slice(0, 16));
  await page.fill('#hold-to', daysFromNow(-17).slice(0, 16));
  await page.fill('#hold-expires', daysFromNow(200).slice(0, 10));
  await page.click('#hold-form button[type=submit]');
  await page.locator('#holds li[data-state="proposed"]').waitFor();
  const holdCard = page.locator('#holds li[data-state="proposed"]');
  assert.match(await holdCard.innerText(), /HPD-2026-0042/);
  const decider = await openConsole('supervisor');
  const awaiting = decider.page.locator('#holds li[data-state="proposed"]');
  await awaiting.waitFor({ timeout: 30_000 });
  await awaiting.locator('button[data-action="approve-hold"]').click();
  await decider.page.locator('#holds li[data-state="in_force"]').waitFor();
  assert.deepEqual(decider.errors, []);
  await decider.page.close();

  await page.reload();
  await page.waitForSelector('#retention-windows tr[data-kind="plate_read"]');
  assert.equal(await page.locator('#retention-windows tr[data-kind="plate_read"] td.days').innerText(), '21');
  await page.locator('#holds li[data-state="in_force"]').waitFor();
  const retention = await call('GET', '/v1/retention', tokens.custodian);
  assert.equal(retention.windows.plate_read.days, 21, 'the server applied the approved window');
  await page.click('#purge-now');
  await page.locator('#purge-receipts li').first().waitFor();
  await page.screenshot({ path: join(artifacts, 'custodian-retention.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('an administrator proposes sharing alerts with a NATS subject and a supervisor approves it', async () => {
  const { page, errors } = await openConsole('administrator');
  await page.waitForSelector('#sharing-form');
  await page.fill('#share-name', 'fusion-centre');
  await page.selectOption('#share-kind', 'nats');
  await page.fill('#share-address', '127.0.0.1:4222');
  await page.fill('#share-channel', 'e2e.shared.alerts');
  await page.fill('#share-reason', 'the regional fusion centre receives situations under agreement 7');
  await page.click('#sharing-form button[type=submit]');
  await page.locator('#sharing-changes li[data-status="proposed"]').waitFor();
  const { changes } = await call('GET', '/v1/sharing/changes', tokens.supervisor);
  assert.equal(changes[0].status, 'proposed');
  assert.equal((await call('GET', '/v1/sinks', tokens.supervisor)).sinks.some((s) => s.name === 'fusion-centre'), false, 'nothing shared before a second person approves');

  const supervisor = await openConsole('supervisor');
  const pending = supervisor.page.locator('#sharing-changes li[data-status="proposed"]');
  await pending.waitFor({ timeout: 30_000 });
  assert.match(await pending.innerText(), /share alerts with fusion-centre \(nats 127\.0\.0\.1:4222 e2e\.shared\.alerts\)/);
  await pending.locator('button[data-action="approve"]').click();
  await supervisor.page.locator('#sharing-changes li[data-status="applied"]').waitFor();
  await supervisor.page.close();

  await page.reload();
  const sink = page.locator('#sinks li[data-sink="fusion-centre"]');
  await sink.waitFor({ timeout: 30_000 });
  assert.match(await sink.innerText(), /approved sharing change/);
  await page.screenshot({ path: join(artifacts, 'administrator-sharing.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

/** The fields of one CSV line (RFC 4180 quoting; the export writes no line breaks inside fields). */
function csvFields(line) {
  const fields = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted && c === '"' && line[i + 1] === '"') { field += '"'; i++; }
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) { fields.push(field); field = ''; }
    else field += c;
  }
  fields.push(field);
  return fields;
}

test('an investigator is refused without a purpose, then searches with one', async () => {
  const { page, errors } = await openConsole('investigator');
  await page.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
  await page.click('form.investigate button[type=submit]');
  await page.waitForSelector('#search-message.error');
  assert.match(await page.locator('#search-message').innerText(), /Refused: field `purpose`/);
  await page.selectOption('#purpose', 'stolen_vehicle');
  await page.fill('#case-number', 'HPD-2026-0042');
  await page.fill('#justification', 'Routine');
  await page.click('form.investigate button[type=submit]');
  await page.waitForFunction(() => /too vague|words/.test(document.querySelector('#search-message')?.textContent ?? ''));
  await page.fill('#justification', 'stolen grey estate car reported near the harbour this morning');
  await page.click('form.investigate button[type=submit]');
  await page.waitForFunction(() => /logged as audit entry \d+/.test(document.querySelector('#search-message')?.textContent ?? ''), null, { timeout: 30_000 });
  await page.screenshot({ path: join(artifacts, 'investigator-search.png') });

  // Thirty days back is a broad search: refused until a supervisor approves it.
  await page.fill('#hours', '720');
  await page.click('form.investigate button[type=submit]');
  await page.waitForSelector('#ask-approval:not([hidden])');
  assert.match(await page.locator('#search-message').innerText(), /supervisor's approval/);
  await page.click('#ask-approval');
  await page.waitForFunction(() => /^ap-/.test(document.querySelector('#approval')?.value ?? ''));
  const approvalId = await page.inputValue('#approval');
  const supervisor = await openConsole('supervisor');
  const request = supervisor.page.locator(`li[data-approval-id="${approvalId}"]`);
  await request.waitFor({ timeout: 30_000 });
  await supervisor.page.screenshot({ path: join(artifacts, 'supervisor-approvals.png') });
  await request.locator('button[data-action="approve"]').click();
  await supervisor.page.locator(`li[data-approval-id="${approvalId}"][data-status="approved"]`).waitFor();
  assert.deepEqual(supervisor.errors, []);
  await supervisor.page.close();
  await page.click('form.investigate button[type=submit]');
  await page.waitForFunction(() => /logged as audit entry \d+/.test(document.querySelector('#search-message')?.textContent ?? ''), null, { timeout: 30_000 });

  // A plate from those results, found again by a wildcard pattern (AB?12* for ABC123).
  const plate = (await page.locator('#results tr td:nth-child(4)').first().innerText()).trim();
  assert.match(plate, /^[A-Z0-9]{5,}$/, `a plate read in the results: ${plate}`);
  await page.fill('#plate', `${plate.slice(0, 2)}?${plate.slice(3, 5)}*`);
  await page.selectOption('#plate-mode', 'wildcard');
  const searchedAt = Date.now();
  await page.click('#plate-search');
  await page.waitForFunction(() => /reads · logged as audit entry \d+/.test(document.querySelector('#plate-message')?.textContent ?? ''), null, { timeout: 30_000 });
  const found = await page.locator('#results tr td:nth-child(4)').allInnerTexts();
  assert.ok(found.some((t) => t.startsWith(plate)), `the wildcard finds ${plate}: ${found.slice(0, 5)}`);
  await page.screenshot({ path: join(artifacts, 'investigator-wildcard-plate.png') });
  // Those results as a CSV file: a download, logged as an export.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  assert.match(csv[0], /^id,kind,device_id,observed_at,received_at,lat,lon,/);
  // The export repeats the query over the same window. The demo feed keeps posting, and a read it
  // posts after the search may have been observed inside that window: such late reads may be
  // added, nothing shown may be missing, and nothing older may appear.
  const header = csvFields(csv[0]);
  const exported = csv.slice(1).map(csvFields);
  const plates = exported.map((r) => r[header.indexOf('plate')]);
  for (const shown of found) {
    const at = plates.indexOf(shown.trim().split(' ')[0]);
    assert.ok(at >= 0, `every result shown is exported: ${shown}`);
    plates.splice(at, 1);
  }
  const late = exported.filter((r) => Date.parse(r[header.indexOf('received_at')]) >= searchedAt - 5_000).length;
  assert.ok(exported.length - found.length <= late, `one row per result shown, besides reads that arrived after the search (${exported.length} rows, ${found.length} shown, ${late} late)`);
  assert.ok(csv.slice(1).some((line) => line.includes(plate)));
  await page.waitForFunction(() => /\.csv · logged as audit entry \d+/.test(document.querySelector('#export-message')?.textContent ?? ''));
  // And a 300 m circle around the map centre.
  await page.click('#circle-search');
  await page.waitForFunction(() => /within 300 m · logged as audit entry \d+/.test(document.querySelector('#circle-message')?.textContent ?? ''), null, { timeout: 30_000 });
  await page.screenshot({ path: join(artifacts, 'investigator-circle.png') });
  // A polygon drawn on the map over a day's window set with the slider: results on the map, in the
  // table and on the timeline, one tick per row.
  await page.selectOption('#area-shape', 'polygon');
  await page.click('#draw-polygon');
  const box = await page.locator('#map canvas').boundingBox();
  const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
  for (const [dx, dy] of [[-70, -70], [70, -70], [70, 70], [-70, 70]]) await page.mouse.click(cx + dx, cy + dy);
  await page.waitForSelector('#map[data-vertices="4"]');
  await page.click('#finish-polygon');
  assert.match(await page.locator('#draw-hint').innerText(), /4 corners drawn/);
  await page.fill('#circle-minutes', '1440');
  const before = await page.locator('#area-window').innerText();
  await page.locator('#area-end').fill('8');
  assert.notEqual(await page.locator('#area-window').innerText(), before, 'the slider moves the window');
  await page.locator('#area-end').fill('0');
  await page.fill('#approval', ''); // the approval covered plate reads only; this search needs none
  await page.click('#circle-search');
  await page.waitForFunction(() => /inside the drawn area · logged as audit entry \d+/.test(document.querySelector('#circle-message')?.textContent ?? ''), null, { timeout: 30_000 });
  const rows = await page.locator('#results tr').count();
  assert.ok(rows > 0, 'the city centre saw traffic in the last day');
  assert.equal(Number(await page.locator('#results-timeline').getAttribute('data-ticks')), rows, 'one timeline tick per result');
  await page.screenshot({ path: join(artifacts, 'investigator-polygon-timeline.png') });
  // An incident's context: its reports and what was around it, with the report marked on the timeline.
  const stated = new URLSearchParams({ purpose: 'stolen_vehicle', case_number: 'HPD-2026-0042', justification: 'stolen grey estate car reported near the harbour this morning' });
  const now = new Date();
  stated.set('kind', 'incident');
  stated.set('from', new Date(now.getTime() - 24 * 3600_000).toISOString());
  stated.set('to', now.toISOString());
  stated.set('bbox', '24.8,60.1,25.1,60.3');
  stated.set('limit', '5');
  // The whole city is a broad search: it rests on a warrant for the city centre, registered first.
  await call('POST', '/v1/warrants', tokens.custodian, JSON.stringify({
    reference: 'WRT-2026-0042', issuing_authority: 'Helsinki District Court', case_number: 'HPD-2026-0042', bbox: [24.8, 60.1, 25.1, 60.3],
    from: daysFromNow(-2), to: daysFromNow(1), expires_at: daysFromNow(10), document_sha256: createHash('sha256').update('WRT-2026-0042').digest('hex'),
  }));
  stated.set('warrant_reference', 'WRT-2026-0042');
  const { observations: incidents } = await call('GET', `/v1/observations?${stated}`, tokens.investigator);
  assert.ok(incidents.length > 0, 'the demo dispatches incidents');
  await page.fill('#incident-id', incidents[0].incident_id);
  await page.click('#incident-search');
  await page.waitForFunction(() => /report\(s\), \d+ observations around it.*logged as audit entry \d+/.test(document.querySelector('#incident-message')?.textContent ?? ''), null, { timeout: 30_000 });
  assert.equal(await page.locator('#results-timeline .timeline-marker').count(), 1, 'the first report is marked');
  assert.ok(await page.locator('#results tr').count() >= 1);
  await page.screenshot({ path: join(artifacts, 'investigator-incident-context.png') });
  // The server answered 400 and 403 on purpose; those are the refusals under test, not page errors.
  assert.deepEqual(errors.filter((e) => !/status of 40[03]/.test(e)), []);
  await page.close();
});

test('a custodian registers a warrant from its document, a search citing it runs, and an emergency search waits for a supervisor\'s review', async () => {
  const custodian = await openConsole('custodian');
  const { page } = custodian;
  await page.waitForSelector('#warrant-form');
  const scan = Buffer.from('%PDF-1.4 search warrant WRT-E2E-1, Helsinki District Court');
  await page.setInputFiles('#warrant-document', { name: 'warrant.pdf', mimeType: 'application/pdf', buffer: scan });
  const expected = createHash('sha256').update(scan).digest('hex');
  await page.waitForFunction((hex) => document.querySelector('#warrant-sha256')?.value === hex, expected);
  await page.fill('#warrant-reference-new', 'WRT-E2E-1');
  await page.fill('#warrant-issuer', 'Helsinki District Court');
  await page.fill('#warrant-case', 'HPD-2026-0042');
  await page.fill('#warrant-plates', 'abc-123');
  await page.fill('#warrant-from', daysFromNow(-40).slice(0, 16));
  await page.fill('#warrant-to', daysFromNow(1).slice(0, 16));
  await page.fill('#warrant-expires', daysFromNow(30).slice(0, 10));
  await page.click('#warrant-form button[type=submit]');
  await page.locator('#warrants li[data-reference="WRT-E2E-1"][data-state="in_force"]').waitFor();
  await page.screenshot({ path: join(artifacts, 'custodian-warrant.png'), fullPage: true });
  const { warrants } = await call('GET', '/v1/warrants', tokens.custodian);
  const registered = warrants.find((w) => w.reference === 'WRT-E2E-1');
  assert.equal(registered.document_sha256, expected, 'the console sent the hash of the chosen file');
  assert.deepEqual(registered.scope.plates, ['ABC123']);
  assert.deepEqual(custodian.errors, []);
  await page.close();

  const investigator = await openConsole('investigator');
  const search = investigator.page;
  await search.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
  await search.selectOption('#purpose', 'stolen_vehicle');
  assert.equal(await search.locator('#open-cases option[value="HPD-2026-0042"]').count(), 1, 'the open cases are offered');
  await search.fill('#case-number', 'HPD-2026-0042');
  await search.fill('#justification', 'stolen grey estate car reported near the harbour this month');
  await search.fill('#approval', '');
  await search.fill('#plate', 'ABC123');
  await search.selectOption('#plate-mode', 'exact');
  await search.fill('#plate-days', '30');
  await search.click('#plate-search');
  await search.waitForFunction(() => /Refused: .*supervisor's approval/.test(document.querySelector('#plate-message')?.textContent ?? ''), null, { timeout: 30_000 });
  await search.fill('#warrant-reference', 'WRT-E2E-1');
  await search.click('#plate-search');
  await search.waitForFunction(() => /reads · logged as audit entry \d+/.test(document.querySelector('#plate-message')?.textContent ?? ''), null, { timeout: 30_000 });
  await search.fill('#plate', 'XYZ999');
  await search.click('#plate-search');
  await search.waitForFunction(() => /Refused: .*does not name this plate/.test(document.querySelector('#plate-message')?.textContent ?? ''), null, { timeout: 30_000 });
  // A child taken in a grey estate car: no time for a warrant. The search runs, and the claim is reviewed.
  await search.fill('#warrant-reference', '');
  await search.fill('#exigency-reference', 'CAD-E2E-7');
  await search.click('#plate-search');
  await search.waitForFunction(() => /reads · logged as audit entry \d+/.test(document.querySelector('#plate-message')?.textContent ?? ''), null, { timeout: 30_000 });
  const logged = Number((await search.locator('#plate-message').innerText()).match(/audit entry (\d+)/)[1]);
  assert.deepEqual(investigator.errors.filter((e) => !/status of 403/.test(e)), []);
  await search.close();

  const supervisor = await openConsole('supervisor');
  const review = supervisor.page.locator('#exigency-reviews li[data-state="open"]').filter({ hasText: 'CAD-E2E-7' });
  await review.waitFor({ timeout: 30_000 });
  assert.match(await review.innerText(), new RegExp(`audit entries ${logged}\\b`));
  await supervisor.page.screenshot({ path: join(artifacts, 'supervisor-exigency-review.png') });
  await review.locator('input').fill('a child was reported taken in that car an hour earlier');
  await review.locator('button[data-action="uphold"]').click();
  await supervisor.page.locator('#exigency-reviews li[data-state="upheld"]').filter({ hasText: 'CAD-E2E-7' }).waitFor();
  // The supervisor opens the case a new search will name, and closes it when it ends.
  await supervisor.page.fill('#case-new-number', 'HPD-2026-0050');
  await supervisor.page.fill('#case-new-title', 'burglary at the tram depot');
  await supervisor.page.click('#case-form button[type=submit]');
  const opened = supervisor.page.locator('#cases li[data-case="HPD-2026-0050"][data-status="open"]');
  await opened.waitFor();
  await opened.locator('button[data-action="close-case"]').click();
  await supervisor.page.locator('#cases li[data-case="HPD-2026-0050"][data-status="closed"]').waitFor();
  assert.deepEqual(supervisor.errors, []);
  await supervisor.page.close();
  const report = await call('GET', '/v1/reports?format=json', tokens.auditor);
  assert.ok(report.exigency_reviews.upheld >= 1, JSON.stringify(report.exigency_reviews));
  assert.ok(report.searches_by_authority.warrant >= 1, JSON.stringify(report.searches_by_authority));
});

test('an auditor verifies the log in the browser and reads the report', async () => {
  const { page, errors } = await openConsole('auditor');
  await page.waitForSelector('#checkpoint');
  await page.click('#verify');
  await page.waitForSelector('#verify-result[data-ok]', { timeout: 120_000 });
  const verdict = await page.locator('#verify-result').innerText();
  assert.equal(await page.locator('#verify-result').getAttribute('data-ok'), 'true', `${verdict}\n${await page.locator('#verify-log').innerText()}`);
  assert.match(await page.locator('#verify-log').innerText(), /inclusion proofs verified/);
  // Filtering the entries by action shows only those.
  await page.selectOption('#filter-action', 'account.logon');
  const actions = await page.locator('#entries tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
  assert.ok(actions.length > 0 && actions.every((a) => a === 'account.logon'), `only logons: ${actions.slice(0, 5)}`);
  await page.selectOption('#filter-action', '');
  await page.screenshot({ path: join(artifacts, 'auditor-verified.png'), fullPage: true });
  await page.click('#show-report');
  const report = page.frameLocator('iframe.report');
  await report.locator('svg.chart').first().waitFor({ timeout: 30_000 });
  assert.ok(await report.locator('svg.chart').count() >= 6);
  assert.deepEqual(errors, []);
  await page.close();
  // The report page itself, rendered headless to a PNG: its charts are inline SVG, no network.
  const reportPage = await browser.newPage({ viewport: { width: 1100, height: 1600 } });
  await reportPage.setExtraHTTPHeaders({ Authorization: `Bearer ${tokens.auditor}` });
  await reportPage.goto(`${base}/v1/reports`);
  assert.ok(await reportPage.locator('svg.chart rect').count() > 0, 'the report charts have bars');
  await reportPage.screenshot({ path: join(artifacts, 'transparency-report.png'), fullPage: true });
  await reportPage.close();
});

test('a wrong token is refused with a message, not a blank page', async () => {
  const page = await browser.newPage();
  await page.goto(base);
  await page.fill('#token', 'gh_not_a_real_token');
  await page.click('button[type=submit]');
  await page.waitForSelector('form.login .error');
  assert.match(await page.locator('form.login .error').innerText(), /not valid/);
  await page.close();
});

// RFC 6238 with HMAC-SHA1, six digits, 30-second steps: what an authenticator app computes.
function totpCode(secretBase32, atMs = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(atMs / 1000 / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

test('an account with a second factor signs in with its token and a code, and signing out ends the session', async () => {
  const cli = (...args) => execFileSync(binary, ['token', ...args, '--data-dir', dataDir], { encoding: 'utf8' }).trim().split('\n').pop();
  const token = cli('create', '--name', 'e2e-supervisor', '--role', 'supervisor');
  const uri = cli('totp', '--name', 'e2e-supervisor');
  const secret = new URL(uri).searchParams.get('secret');
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(base);
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#totp-code');
  const wrong = String((Number(totpCode(secret)) + 500_000) % 1_000_000).padStart(6, '0');
  await page.fill('#totp-code', wrong);
  await page.click('button[type=submit]');
  await page.waitForSelector('form.login .error');
  assert.match(await page.locator('form.login .error').innerText(), /not valid now/);
  await page.screenshot({ path: join(artifacts, 'second-factor-refused.png') });
  await page.fill('#totp-code', totpCode(secret));
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#who')?.textContent === 'e2e-supervisor · supervisor', null, { timeout: 30_000 });
  const session = await page.evaluate(() => sessionStorage.getItem('glasshouse.token'));
  assert.match(session, /^ghs_/, 'the tab keeps the session, not the account token');
  assert.equal((await fetch(`${base}/v1/whoami`, { headers: { Authorization: `Bearer ${token}` } })).status, 401, 'the token alone opens nothing');
  await page.screenshot({ path: join(artifacts, 'second-factor-signed-in.png') });
  await page.click('#sign-out');
  await page.waitForSelector('#token');
  assert.equal((await fetch(`${base}/v1/whoami`, { headers: { Authorization: `Bearer ${session}` } })).status, 401, 'signing out ended the session');
  assert.deepEqual(errors, [], errors.join('\n'));
  await page.close();
});

test('an administrator creates a threshold rule and a geofence drawn on the map, registers a device and imports a hotlist', async () => {
  const { page, errors } = await openConsole('administrator');
  await page.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
  await page.waitForSelector('#threshold-form');
  await page.fill('#threshold-name', 'carbon monoxide above 35 ppm');
  await page.fill('#threshold-quantity', 'co');
  await page.fill('#threshold-level', '35');
  await page.click('#threshold-form button[type=submit]');
  await page.locator('#rules li').filter({ hasText: 'carbon monoxide above 35 ppm' }).waitFor();

  const fencesBefore = Number(await page.evaluate(() => document.body.dataset.geofences));
  await page.fill('#geofence-name', 'harbour gate');
  await page.click('#geofence-draw');
  const box = await page.locator('#map canvas').boundingBox();
  const [cx, cy] = [box.x + box.width / 2, box.y + box.height / 2];
  for (const [dx, dy] of [[-40, -40], [40, -40], [40, 40], [-40, 40]]) await page.mouse.click(cx + dx, cy + dy);
  await page.click('#geofence-finish');
  await page.click('#geofence-form button[type=submit]');
  await page.locator('#rules li').filter({ hasText: 'harbour gate' }).waitFor();
  await page.waitForFunction((n) => Number(document.body.dataset.geofences) === n + 1, fencesBefore);
  const { rules } = await call('GET', '/v1/rules', tokens.administrator);
  const fence = rules.find((r) => r.name === 'harbour gate');
  assert.deepEqual(fence.triggers, ['enter', 'exit']);
  assert.equal(fence.area.coordinates[0].length, 5, 'four corners and the closing point');

  const total = Number(await page.locator('#device-counts').getAttribute('data-total'));
  await page.fill('#device-id', 'lpr-e2e-1');
  await page.click('#device-here');
  await page.click('#device-form button[type=submit]');
  await page.waitForFunction((n) => Number(document.querySelector('#device-counts')?.dataset.total) === n + 1, total);

  await page.fill('#hotlist-name', 'e2e stolen vehicles');
  await page.selectOption('#hotlist-match', 'lenient');
  await page.click('#hotlist-form button[type=submit]');
  await page.locator('#hotlists li[data-hotlist="e2e stolen vehicles"]').waitFor();
  const listId = (await call('GET', '/v1/hotlists', tokens.administrator)).hotlists.find((h) => h.name === 'e2e stolen vehicles').id;
  await page.selectOption('#import-list', listId);
  const expires = new Date(Date.now() + 7 * 86_400_000).toISOString();
  await page.setInputFiles('#import-file', { name: 'stolen.csv', mimeType: 'text/csv', buffer: Buffer.from(`plate,reason,expires_at\nXYZ123,stolen_vehicle,${expires}\nQRS987,stolen_vehicle,${expires}\n`) });
  await page.click('#import-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#import-message')?.textContent === '2 entries added');
  await page.locator('#hotlists li[data-hotlist="e2e stolen vehicles"][data-entries="2"]').waitFor();

  assert.match(await page.locator('#accounts').innerText(), /demo-administrator \(you\)\s+administrator/);
  await page.locator('#admin-new-rules').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(artifacts, 'administrator-configuration.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('an operator can switch on a sound for new alerts, and the console scales up on a 4K video wall', async () => {
  const page = await browser.newPage({ viewport: { width: 3840, height: 2160 } });
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(base);
  await page.fill('#token', tokens.operator);
  await page.click('button[type=submit]');
  await page.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 30_000 });
  assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).fontSize), '20px', 'larger type on a wall display');
  await page.check('#alert-sound');
  const chimes = Number(await page.evaluate(() => document.body.dataset.chimes ?? '0'));
  assert.ok(chimes >= 1, 'switching it on plays a test chime');
  // A plate listed just now, so no open alert can fold this read into itself.
  const { hotlists } = await call('GET', '/v1/hotlists', tokens.administrator);
  const plate = `SND${String(Date.now()).slice(-4)}`;
  const expires = new Date(Date.now() + 86_400_000).toISOString();
  await call('POST', `/v1/hotlists/${hotlists[0].id}/entries`, tokens.administrator, JSON.stringify([{ plate, reason: 'stolen_vehicle', expires_at: expires }]));
  const id = `e2e-sound-${Date.now()}`;
  const read = { id, kind: 'plate_read', device_id: 'openalpr:001', observed_at: new Date().toISOString(), plate, region: 'FI', confidence: 0.91 };
  await call('POST', '/v1/observations', tokens.ingest, JSON.stringify(read) + '\n', 'application/x-ndjson');
  await page.locator(`li[data-observation-id="${id}"]`).waitFor({ timeout: 30_000 });
  await page.waitForFunction((observation) => (document.body.dataset.chimedFor ?? '').split(' ').includes(observation), id, { timeout: 10_000 });
  await page.screenshot({ path: join(artifacts, 'operator-video-wall-4k.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a deployment can put the roads over an online map style, and an unreachable style falls back to the offline map', async () => {
  // A stand-in tile provider: it serves a style while `up`, then answers 404.
  let up = true;
  let requests = 0;
  const { createServer: createHttpServer } = await import('node:http');
  const provider = createHttpServer((request, response) => {
    requests += 1;
    const headers = { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/json' };
    if (!up) { response.writeHead(404, headers); response.end('{}'); return; }
    response.writeHead(200, headers);
    response.end(JSON.stringify({ version: 8, sources: {}, layers: [{ id: 'provider-background', type: 'background', paint: { 'background-color': '#203040' } }] }));
  });
  await new Promise((resolve) => provider.listen(0, '127.0.0.1', resolve));
  const styleUrl = `http://127.0.0.1:${provider.address().port}/style.json`;
  const dir = mkdtempSync(join(tmpdir(), 'glasshouse-e2e-style-'));
  const port = await freePort();
  const styled = spawn(binary, ['demo', '--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${port}`, '--pg-listen', '127.0.0.1:0',
    '--tokens-out', join(dir, 'tokens.json'), '--map-style', styleUrl], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  try {
    const styledBase = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${styledBase}/healthz`)).ok, 'the styled demo');
    const styledTokens = JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8'));
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    const signIn = async () => {
      await page.goto(styledBase);
      await page.fill('#token', styledTokens.operator);
      await page.click('button[type=submit]');
      await page.waitForSelector('body[data-map-ready="true"]', { timeout: 60_000 });
    };
    await signIn();
    assert.equal(await page.locator('#map').getAttribute('data-style'), 'online');
    assert.ok(requests >= 1, 'the console loaded the provider style');
    await page.screenshot({ path: join(artifacts, 'operator-online-style.png') });
    up = false;
    await page.evaluate(() => sessionStorage.clear());
    await signIn();
    assert.equal(await page.locator('#map').getAttribute('data-style'), 'offline', 'an unreachable style falls back');
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    styled.kill('SIGTERM');
    provider.close();
  }
});

test('an operator looks back over a shift: alert history narrowed to a device, a page at a time', async () => {
  const { page, errors } = await openConsole('operator');
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 60_000 });
  const device = `lpr-history-${Date.now()}`;
  await call('PUT', `/v1/devices/${device}`, tokens.administrator, JSON.stringify({ type: 'plate_reader', lat: 60.169, lon: 24.938 }));
  const list = await call('POST', '/v1/hotlists', tokens.administrator, JSON.stringify({ name: `e2e history ${device}`, source: 'local', match: 'exact' }));
  // More hits than a page holds, each of its own plate (sightings of one plate fold into one alert).
  const plates = Array.from({ length: 55 }, (_, i) => `HY${String(i).padStart(3, '0')}`);
  const expires = new Date(Date.now() + 30 * 86_400_000).toISOString();
  await call('POST', `/v1/hotlists/${list.id}/entries`, tokens.administrator, JSON.stringify(plates.map((plate) => ({ plate, reason: 'stolen_vehicle', expires_at: expires }))));
  const reads = plates.map((plate, i) => JSON.stringify({ id: `${device}-${i}`, kind: 'plate_read', device_id: device, observed_at: new Date().toISOString(), plate })).join('\n') + '\n';
  assert.equal((await call('POST', '/v1/observations', tokens.ingest, reads, 'application/x-ndjson')).accepted, 55);
  await waitFor(async () => (await call('GET', `/v1/alerts?device_id=${device}&limit=100`, tokens.operator)).alerts.length === 55, 'the 55 hits');

  await page.click('#alert-history summary');
  await page.fill('#history-device', device);
  await page.selectOption('#history-rule', 'hotlist');
  await page.click('.history-form button[type=submit]');
  await page.waitForSelector('#history-results[data-count="50"]', { timeout: 15_000 });
  assert.equal(await page.locator('#history-more').isVisible(), true, 'older alerts are a click away');
  await page.click('#history-more');
  await page.waitForSelector('#history-results[data-count="55"]', { timeout: 15_000 });
  assert.equal(await page.locator('#history-more').isHidden(), true, 'nothing older');
  const rows = await page.locator('#history-results li').evaluateAll((nodes) => nodes.map((n) => [n.dataset.alertId, n.textContent]));
  assert.equal(new Set(rows.map(([id]) => id)).size, 55, 'each alert once across the pages');
  assert.ok(rows.every(([, text]) => text.includes(device) && text.includes('hotlist')), 'only the device\'s hotlist hits');
  await page.screenshot({ path: join(artifacts, 'operator-alert-history.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the console over https: Chromium trusts only the server\'s key, signs in, goes live, and the answers carry HSTS', async () => {
  const fixtures = join(root, 'crates', 'glasshouse', 'tests', 'fixtures', 'tls');
  // Chromium is told to accept exactly this server's key, as a browser with the city's authority installed would.
  const spki = new X509Certificate(readFileSync(join(fixtures, 'server.pem'))).publicKey.export({ type: 'spki', format: 'der' });
  const pin = createHash('sha256').update(spki).digest('base64');
  const dir = mkdtempSync(join(tmpdir(), 'glasshouse-e2e-tls-'));
  const data = join(dir, 'data');
  const operator = execFileSync(binary, ['token', 'create', '--data-dir', data, '--name', 'tls-operator', '--role', 'operator'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const port = await freePort();
  const server = spawn(binary, ['serve', '--data-dir', data, '--listen', `127.0.0.1:${port}`,
    '--tls-cert', join(fixtures, 'server.pem'), '--tls-key', join(fixtures, 'server.key')], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  const pinned = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: [...CHROMIUM_FLAGS, `--ignore-certificate-errors-spki-list=${pin}`] });
  try {
    const secure = `https://127.0.0.1:${port}`;
    const page = await pinned.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('console', (message) => { if (message.type() === 'error') errors.push(message.text()); });
    page.on('pageerror', (error) => errors.push(String(error)));
    const first = await waitFor(async () => page.goto(secure), 'the https server');
    assert.equal(first.headers()['strict-transport-security'], 'max-age=31536000');
    await page.fill('#token', operator);
    await page.click('button[type=submit]');
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 60_000 });
    await page.screenshot({ path: join(artifacts, 'operator-over-https.png') });
    assert.deepEqual(errors, []);
  } finally {
    await pinned.close();
    server.kill('SIGTERM');
  }
});

test('the console locks after the configured idle time, not while someone is using it, and asks for the token again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'glasshouse-e2e-idle-'));
  const data = join(dir, 'data');
  const operator = execFileSync(binary, ['token', 'create', '--data-dir', data, '--name', 'idle-operator', '--role', 'operator'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const port = await freePort();
  // Three seconds, so the test need not wait half an hour.
  const server = spawn(binary, ['serve', '--data-dir', data, '--listen', `127.0.0.1:${port}`, '--console-idle-lock-minutes', '0.05'],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  try {
    const idleBase = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${idleBase}/healthz`)).ok, 'the server with a short idle lock');
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(idleBase);
    await page.fill('#token', operator);
    await page.click('button[type=submit]');
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 60_000 });
    // Six seconds of use: twice the idle time, and still signed in.
    for (let i = 0; i < 12; i += 1) {
      await page.mouse.move(200 + i * 10, 300);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(await page.locator('#token').count(), 0, 'in use, the console stays open');
    // Then nobody touches it.
    await page.waitForSelector('#token', { timeout: 15_000 });
    assert.match(await page.locator('form.login .error').innerText(), /Locked after 3 seconds without activity/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('glasshouse.token')), null, 'the token left the tab');
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    server.kill('SIGTERM');
  }
});
