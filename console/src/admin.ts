// The administrator's configuration views beside the rules: new threshold rules and geofences
// (drawn on the map), devices, hotlists with CSV import, and who has access. Every change goes
// through the public API, which audits it; the administrator never sees observations.

import { type Account, type Device, ApiError, api } from './api';
import { el } from './dom';
import type { LiveMap } from './map';

interface Hotlist { id: string; name: string; source: string; match: string; priority: number; entries: number }
interface AccountRow { name: string; role: string; second_factor: boolean; created_at: string; tokens: number }

function message(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

function send(method: string, path: string, body: unknown): Promise<unknown> {
  return api(path, { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

function field(id: string, label: string, attrs: Record<string, string> = {}): [HTMLLabelElement, HTMLInputElement] {
  return [el('label', { for: id }, [label]), el('input', { id, ...attrs })];
}

/// Appends the configuration sections to the administrator's panel.
export async function renderAdminSections(panel: HTMLElement, me: Account, live: LiveMap, onRulesChanged: () => void): Promise<void> {
  const devices = el('section', { id: 'admin-devices', class: 'admin-section', 'aria-label': 'Devices' });
  const hotlists = el('section', { id: 'admin-hotlists', class: 'admin-section', 'aria-label': 'Hotlists' });
  const rules = el('section', { id: 'admin-new-rules', class: 'admin-section', 'aria-label': 'New rules' });
  const accounts = el('section', { id: 'admin-accounts', class: 'admin-section', 'aria-label': 'Accounts' });
  const nav = el('nav', { class: 'admin-nav', 'aria-label': 'Administration sections' }, [
    ['#admin-new-rules', 'New rule'], ['#admin-devices', 'Devices'], ['#admin-hotlists', 'Hotlists'], ['#admin-accounts', 'Accounts'],
  ].map(([href, text]) => el('a', { href }, [text])));
  panel.prepend(nav);
  panel.append(rules, devices, hotlists, accounts);
  renderRuleForms(rules, live, onRulesChanged);
  await renderDevices(devices, live);
  await renderHotlists(hotlists);
  await renderAccounts(accounts, me);
}

/// A threshold rule from a form, and a geofence whose area is drawn on the map.
function renderRuleForms(section: HTMLElement, live: LiveMap, onRulesChanged: () => void): void {
  const [nameLabel, name] = field('threshold-name', 'Name', { required: '', placeholder: 'e.g. CO above 35 ppm' });
  const [quantityLabel, quantity] = field('threshold-quantity', 'Quantity', { required: '', placeholder: 'gamma_dose_rate, co, pm2_5' });
  const [levelLabel, level] = field('threshold-level', 'Level', { required: '', type: 'number', step: 'any' });
  const [clearLabel, clear] = field('threshold-clear', 'Clears below (optional)', { type: 'number', step: 'any' });
  const thresholdError = el('p', { class: 'error', role: 'alert' });
  const threshold = el('form', { id: 'threshold-form', class: 'inline-form stacked' }, [
    el('h3', {}, ['Sensor threshold']), nameLabel, name, quantityLabel, quantity, levelLabel, level, clearLabel, clear,
    el('button', { type: 'submit' }, ['Create rule (logged)']), thresholdError,
  ]);
  threshold.addEventListener('submit', (e) => {
    e.preventDefault();
    thresholdError.textContent = '';
    const body: Record<string, unknown> = { type: 'threshold', name: name.value, quantity: quantity.value, level: Number(level.value) };
    if (clear.value) body.clear_below = Number(clear.value);
    send('POST', '/v1/rules', body).then(() => { threshold.reset(); onRulesChanged(); }).catch((err) => { thresholdError.textContent = message(err); });
  });

  const [fenceLabel, fenceName] = field('geofence-name', 'Name', { required: '', placeholder: 'e.g. harbour gate' });
  const trigger = (value: string, checked: boolean): [HTMLInputElement, HTMLLabelElement] => {
    const box = el('input', { type: 'checkbox', id: `geofence-${value}`, value });
    box.checked = checked;
    box.defaultChecked = checked; // so a reset after creating keeps the usual choice
    return [box, el('label', { for: `geofence-${value}` }, [value])];
  };
  const triggers = ['enter', 'exit', 'inside', 'dwell'].map((t) => trigger(t, t === 'enter' || t === 'exit'));
  const [dwellLabel, dwell] = field('geofence-dwell', 'Dwell (s, for dwell)', { type: 'number', min: '1', value: '300' });
  const [devicesLabel, deviceIds] = field('geofence-devices', 'Mobile devices (ids, comma-separated)', { placeholder: 'optional' });
  const hotlisted = el('input', { type: 'checkbox', id: 'geofence-hotlisted' });
  hotlisted.checked = true;
  hotlisted.defaultChecked = true;
  const draw = el('button', { type: 'button', id: 'geofence-draw' }, ['Draw the area on the map']);
  const finish = el('button', { type: 'button', id: 'geofence-finish', disabled: '' }, ['Finish area']);
  const hint = el('p', { id: 'geofence-hint', class: 'meta' });
  let area: [number, number][] | null = null;
  draw.addEventListener('click', () => { live.startDrawing(); area = null; finish.disabled = false; hint.textContent = 'Click each corner on the map, then “Finish area”.'; });
  finish.addEventListener('click', () => {
    area = live.finishDrawing();
    finish.disabled = true;
    hint.textContent = area ? `Area of ${area.length - 1} corners drawn.` : 'An area needs at least three corners; draw again.';
  });
  const fenceError = el('p', { class: 'error', role: 'alert' });
  const geofence = el('form', { id: 'geofence-form', class: 'inline-form stacked' }, [
    el('h3', {}, ['Geofence']), fenceLabel, fenceName,
    el('div', { class: 'row' }, triggers.flat()), dwellLabel, dwell, devicesLabel, deviceIds,
    el('div', { class: 'row' }, [hotlisted, el('label', { for: 'geofence-hotlisted' }, ['watch hotlisted vehicles'])]),
    el('div', { class: 'row' }, [draw, finish]), hint,
    el('button', { type: 'submit' }, ['Create geofence (logged)']), fenceError,
  ]);
  geofence.addEventListener('submit', (e) => {
    e.preventDefault();
    fenceError.textContent = '';
    if (!area) { fenceError.textContent = 'Draw and finish the area on the map first.'; return; }
    const chosen = triggers.filter(([box]) => box.checked).map(([box]) => box.value);
    const body: Record<string, unknown> = {
      type: 'geofence', name: fenceName.value, area: { type: 'Polygon', coordinates: [area] }, triggers: chosen,
      subjects: { devices: deviceIds.value.split(',').map((s) => s.trim()).filter(Boolean), hotlisted: hotlisted.checked },
    };
    if (chosen.includes('dwell')) body.dwell_s = Number(dwell.value);
    send('POST', '/v1/rules', body)
      .then(() => { geofence.reset(); area = null; live.clearDrawing(); hint.textContent = 'Geofence created.'; onRulesChanged(); })
      .catch((err) => { fenceError.textContent = message(err); });
  });
  section.replaceChildren(el('h2', {}, ['New rule']), threshold, geofence);
}

/// The registry by type, and a form that registers or updates one device (cameras with their view).
async function renderDevices(section: HTMLElement, live: LiveMap): Promise<void> {
  const counts = el('p', { id: 'device-counts', class: 'meta' });
  const refresh = async (): Promise<void> => {
    const { devices } = await api<{ devices: Device[] }>('/v1/devices');
    const byType = new Map<string, number>();
    for (const d of devices) byType.set(d.type, (byType.get(d.type) ?? 0) + 1);
    counts.textContent = [...byType].map(([t, n]) => `${n} ${t.replace(/_/g, ' ')}`).join(' · ') || 'No devices yet.';
    counts.dataset.total = String(devices.length);
    await live.setDevices(devices);
  };
  const [idLabel, id] = field('device-id', 'Id', { required: '', pattern: '[A-Za-z0-9._\\-]{1,64}', placeholder: 'e.g. lpr-101' });
  const type = el('select', { id: 'device-type', 'aria-label': 'Type' }, ['plate_reader', 'camera', 'sensor', 'gunshot_array'].map((t) => el('option', { value: t }, [t.replace(/_/g, ' ')])));
  const [latLabel, lat] = field('device-lat', 'Latitude', { required: '', type: 'number', step: 'any', min: '-90', max: '90' });
  const [lonLabel, lon] = field('device-lon', 'Longitude', { required: '', type: 'number', step: 'any', min: '-180', max: '180' });
  const [bearingLabel, bearing] = field('device-bearing', 'Bearing (°, cameras)', { type: 'number', min: '0', max: '359', value: '0' });
  const [fovLabel, fov] = field('device-fov', 'Field of view (°)', { type: 'number', min: '1', max: '360', value: '60' });
  const [rangeLabel, range] = field('device-range', 'Range (m)', { type: 'number', min: '1', max: '1000', value: '60' });
  const centre = el('button', { type: 'button', id: 'device-here' }, ['Use the map centre']);
  centre.addEventListener('click', () => {
    const c = live.map.getCenter();
    lat.value = c.lat.toFixed(6);
    lon.value = c.lng.toFixed(6);
  });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { id: 'device-form', class: 'inline-form stacked' }, [
    idLabel, id, el('label', { for: 'device-type' }, ['Type']), type, latLabel, lat, lonLabel, lon, centre,
    bearingLabel, bearing, fovLabel, fov, rangeLabel, range,
    el('button', { type: 'submit' }, ['Register or update (logged)']), error,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.textContent = '';
    const body: Record<string, unknown> = { type: type.value, lat: Number(lat.value), lon: Number(lon.value) };
    if (type.value === 'camera') Object.assign(body, { bearing_deg: Number(bearing.value), fov_deg: Number(fov.value), range_m: Number(range.value) });
    send('PUT', `/v1/devices/${encodeURIComponent(id.value)}`, body)
      .then(() => { form.reset(); return refresh(); })
      .catch((err) => { error.textContent = message(err); });
  });
  section.replaceChildren(el('h2', {}, ['Devices']), counts, form);
  await refresh();
}

/// Hotlists with their sizes, a form to create one, and a CSV import into a chosen list.
async function renderHotlists(section: HTMLElement): Promise<void> {
  const list = el('ol', { id: 'hotlists', class: 'alert-list' });
  const target = el('select', { id: 'import-list', 'aria-label': 'List to import into' });
  const refresh = async (): Promise<void> => {
    const { hotlists } = await api<{ hotlists: Hotlist[] }>('/v1/hotlists');
    list.replaceChildren(...(hotlists.length ? hotlists.map((h) => el('li', { class: 'alert', 'data-hotlist': h.name, 'data-entries': String(h.entries) }, [
      el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [h.name]), el('span', { class: 'alert-status' }, [`${h.entries} entries`])]),
      el('p', { class: 'meta' }, [`source ${h.source} · ${h.match} match · priority ${h.priority}`]),
    ])) : [el('li', { class: 'meta' }, ['No hotlists.'])]));
    const chosen = target.value;
    target.replaceChildren(...hotlists.map((h) => el('option', { value: h.id }, [h.name])));
    if (chosen) target.value = chosen;
  };
  const [nameLabel, name] = field('hotlist-name', 'Name', { required: '', placeholder: 'e.g. stolen vehicles (state)' });
  const source = el('select', { id: 'hotlist-source', 'aria-label': 'Source' }, ['local', 'state', 'ncic'].map((s) => el('option', { value: s }, [s])));
  const match = el('select', { id: 'hotlist-match', 'aria-label': 'Match' }, [el('option', { value: 'exact' }, ['exact']), el('option', { value: 'lenient' }, ['lenient (OCR misreads)'])]);
  const createError = el('p', { class: 'error', role: 'alert' });
  const create = el('form', { id: 'hotlist-form', class: 'inline-form stacked' }, [
    el('h3', {}, ['New list']), nameLabel, name, el('label', { for: 'hotlist-source' }, ['Source']), source, el('label', { for: 'hotlist-match' }, ['Match']), match,
    el('button', { type: 'submit' }, ['Create list (logged)']), createError,
  ]);
  create.addEventListener('submit', (e) => {
    e.preventDefault();
    createError.textContent = '';
    send('POST', '/v1/hotlists', { name: name.value, source: source.value, match: match.value })
      .then(() => { create.reset(); return refresh(); })
      .catch((err) => { createError.textContent = message(err); });
  });
  const file = el('input', { id: 'import-file', type: 'file', accept: '.csv,text/csv', 'aria-label': 'CSV file' });
  const importMessage = el('p', { id: 'import-message', role: 'status' });
  const importer = el('form', { id: 'import-form', class: 'inline-form stacked' }, [
    el('h3', {}, ['Import entries (CSV with a header: plate, reason code such as stolen_vehicle, expires_at, and optionally region)']), el('label', { for: 'import-list' }, ['List']), target, file,
    el('button', { type: 'submit' }, ['Import (all or nothing, logged)']), importMessage,
  ]);
  importer.addEventListener('submit', (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) { importMessage.className = 'error'; importMessage.textContent = 'Choose a CSV file first.'; return; }
    importMessage.className = '';
    importMessage.textContent = 'importing…';
    chosen.text()
      .then((text) => api<{ added: number }>(`/v1/hotlists/${target.value}/entries`, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: text }))
      .then((reply) => { importMessage.textContent = `${reply.added} entries added`; importer.reset(); return refresh(); })
      .catch((err) => { importMessage.className = 'error'; importMessage.textContent = `Refused: ${message(err)}`; });
  });
  section.replaceChildren(el('h2', {}, ['Hotlists']), list, create, importer);
  await refresh();
}

/// Who has access, read-only: accounts change on the server's command line, where each change is
/// recorded for the audit log.
async function renderAccounts(section: HTMLElement, me: Account): Promise<void> {
  const { accounts } = await api<{ accounts: AccountRow[] }>('/v1/accounts');
  const rows = accounts.map((a) => el('tr', { 'data-account': a.name }, [
    el('th', { scope: 'row' }, [a.name === me.name ? `${a.name} (you)` : a.name]), el('td', {}, [a.role]),
    el('td', {}, [a.second_factor ? 'TOTP' : '—']), el('td', {}, [String(a.tokens)]),
  ]));
  section.replaceChildren(
    el('h2', {}, ['Accounts']),
    el('p', { class: 'meta' }, ['Changed on the server with glasshouse token create | role | revoke | totp; every change reaches the audit log.']),
    el('table', { class: 'results', id: 'accounts' }, [
      el('thead', {}, [el('tr', {}, ['account', 'role', 'second factor', 'tokens'].map((h) => el('th', { scope: 'col' }, [h])))]), el('tbody', {}, rows),
    ]),
  );
}
