// The investigator's workspace: the purpose step first, then a search of the map's area and a time
// range. The server refuses and logs a search whose purpose is missing or vague; this form shows why.

import { ApiError, api, getToken } from './api';
import type { LiveMap } from './map';
import { el } from './dom';
import { renderTimeline } from './timeline';
import { openCasesList } from './warrants';

interface Policy { purposes: string[]; case_number_pattern: string; justification_words_min: number }
interface Observation { id: string; kind: string; device_id: string; observed_at: string; lat: number; lon: number; plate?: string; type_code?: string; quantity?: string; value?: number }

const PURPOSE_KEY = 'glasshouse.purpose';

function summary(o: Observation): string {
  return o.plate ?? o.type_code ?? (o.quantity ? `${o.quantity} ${o.value}` : o.kind);
}

export async function renderInvestigation(panel: HTMLElement, map: LiveMap): Promise<void> {
  const policy = await api<Policy>('/v1/policy');
  const saved = JSON.parse(sessionStorage.getItem(PURPOSE_KEY) ?? '{}') as Record<string, string>;
  const purpose = el('select', { id: 'purpose', 'aria-label': 'Purpose' }, [el('option', { value: '' }, ['— choose a purpose —']), ...policy.purposes.map((p) => el('option', { value: p }, [p.replace(/_/g, ' ')]))]);
  purpose.value = saved.purpose ?? '';
  // Searches must name a case the system knows: the open cases are offered as the investigator types.
  const openCases = await openCasesList('open-cases');
  const caseNumber = el('input', { id: 'case-number', 'aria-label': 'Case number', placeholder: 'an open case, e.g. HPD-2026-0042', list: 'open-cases', value: saved.case_number ?? '' });
  const justification = el('textarea', { id: 'justification', 'aria-label': 'Justification', rows: '3', placeholder: `at least ${policy.justification_words_min} words: what you look for and why` });
  justification.value = saved.justification ?? '';
  const kind = el('select', { id: 'kind', 'aria-label': 'Kind' }, ['plate_read', 'incident', 'gunshot', 'sensor_reading', 'video_event'].map((k) => el('option', { value: k }, [k.replace(/_/g, ' ')])));
  const hours = el('input', { id: 'hours', type: 'number', min: '1', max: '720', value: '48', 'aria-label': 'Hours back' });
  const approval = el('input', { id: 'approval', 'aria-label': 'Approval id (for broad searches)', placeholder: 'approval id, for a broad search', value: saved.approval ?? '' });
  const warrant = el('input', { id: 'warrant-reference', 'aria-label': 'Warrant reference (for broad searches)', placeholder: 'a registered warrant, for a broad search', value: saved.warrant_reference ?? '' });
  const exigency = el('input', { id: 'exigency-reference', 'aria-label': 'Exigency reference (emergencies only)', placeholder: 'dispatch number; a supervisor reviews the claim' });
  const authority: Authority = { approval, warrant, exigency };
  const message = el('p', { id: 'search-message', role: 'status' });
  const ask = el('button', { type: 'button', id: 'ask-approval', hidden: '' }, ['Ask a supervisor to approve this search']);
  const results = el('tbody', { id: 'results' });
  const exporter = new Exporter();
  const form = el('form', { class: 'investigate' }, [
    el('h2', {}, ['Purpose of this search']),
    el('label', { for: 'purpose' }, ['Purpose']), purpose,
    el('label', { for: 'case-number' }, ['Case number']), caseNumber, openCases,
    el('label', { for: 'justification' }, ['Justification']), justification,
    el('h2', {}, ['Search the visible map area']),
    el('label', { for: 'kind' }, ['Kind']), kind,
    el('label', { for: 'hours' }, ['Hours back']), hours,
    el('label', { for: 'approval' }, ['Approval (broad searches only)']), approval,
    el('label', { for: 'warrant-reference' }, ['or a warrant']), warrant,
    el('label', { for: 'exigency-reference' }, ['or an emergency (exigency)']), exigency,
    el('button', { type: 'submit' }, ['Search (logged)']), message, ask,
  ]);
  // One results table for every search, below the forms; each answer scrolls it into view.
  const resultsSection = el('section', { class: 'investigate results-section', 'aria-label': 'Results' }, [
    el('h2', {}, ['Results']), exporter.bar, el('div', { id: 'results-timeline' }),
    el('table', { class: 'results' }, [el('thead', {}, [el('tr', {}, ['time', 'kind', 'device', 'what'].map((h) => el('th', { scope: 'col' }, [h])))]), results]),
  ]);
  // The scope of the last search tried, so an approval request asks for exactly that.
  let lastScope: { kinds: string[]; from: string; to: string; bbox: number[] } | null = null;
  ask.addEventListener('click', () => {
    if (!lastScope) return;
    const body = { purpose: purpose.value, case_number: caseNumber.value.trim(), justification: justification.value.trim(), scope: lastScope };
    api<{ approval: { id: string } }>('/v1/approvals', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then((reply) => {
        approval.value = reply.approval.id;
        ask.hidden = true;
        message.className = '';
        message.textContent = `Approval ${reply.approval.id} requested; search again once a supervisor has approved it.`;
      })
      .catch((error) => { message.className = 'error'; message.textContent = error instanceof ApiError ? error.message : String(error); });
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const stated = { purpose: purpose.value, case_number: caseNumber.value.trim(), justification: justification.value.trim() };
    sessionStorage.setItem(PURPOSE_KEY, JSON.stringify({ ...stated, approval: approval.value.trim(), warrant_reference: warrant.value.trim() }));
    const b = map.map.getBounds();
    // Whole minutes, so a repeated search (after an approval) asks for the same scope.
    const to = new Date(Math.ceil(Date.now() / 60_000) * 60_000);
    const from = new Date(to.getTime() - Number(hours.value) * 3600_000);
    const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((x) => Number(x.toFixed(6)));
    lastScope = { kinds: [kind.value], from: from.toISOString(), to: new Date(to.getTime() + 3600_000).toISOString(), bbox: [bbox[0] - 0.001, bbox[1] - 0.001, bbox[2] + 0.001, bbox[3] + 0.001] };
    const params = new URLSearchParams({ ...stated, kind: kind.value, from: from.toISOString(), to: to.toISOString(), bbox: bbox.join(','), limit: '500' });
    for (const [key, value] of Object.entries(authorityFields(authority))) params.set(key, value);
    ask.hidden = true;
    message.textContent = 'searching…';
    message.className = '';
    api<{ observations: Observation[]; truncated: boolean; audit_seq: number }>(`/v1/observations?${params}`)
      .then((reply) => {
        message.textContent = `${reply.observations.length}${reply.truncated ? '+' : ''} results · logged as audit entry ${reply.audit_seq}`;
        results.replaceChildren(...reply.observations.slice().reverse().map((o) => el('tr', {}, [
          el('td', {}, [new Date(o.observed_at).toLocaleString()]), el('td', {}, [o.kind.replace(/_/g, ' ')]), el('td', {}, [o.device_id]), el('td', {}, [summary(o)]),
        ])));
        map.setResults(reply.observations.map((o) => [o.lon, o.lat]));
        const timeline = results.closest('section')?.querySelector<HTMLElement>('#results-timeline');
        if (timeline) renderTimeline(timeline, reply.observations);
        results.closest('section')?.scrollIntoView({ block: 'nearest' });
      })
      .catch((error) => {
        message.className = 'error';
        message.textContent = error instanceof ApiError ? `Refused: ${error.message}` : String(error);
        ask.hidden = !(error instanceof ApiError && error.message.includes('approval'));
        results.replaceChildren();
      });
  });
  panel.replaceChildren(form, plateForm(purpose, caseNumber, justification, authority, results, map, exporter), areaForm(purpose, caseNumber, justification, authority, results, map, exporter), incidentForm(purpose, caseNumber, justification, authority, results, map), resultsSection);
}

interface PlateResult { observation: Observation; match: { matched_plate: string; via_candidate: boolean; distance: number } }

/// What a broad search may rest on: a supervisor's approval, a registered warrant, or an exigency claim.
interface Authority { approval: HTMLInputElement; warrant: HTMLInputElement; exigency: HTMLInputElement }

function authorityFields(authority: Authority): Record<string, string> {
  const fields: Record<string, string> = {};
  if (authority.approval.value.trim()) fields.approval = authority.approval.value.trim();
  if (authority.warrant.value.trim()) fields.warrant_reference = authority.warrant.value.trim();
  if (authority.exigency.value.trim()) fields.exigency_reference = authority.exigency.value.trim();
  return fields;
}

function stated(purpose: HTMLSelectElement, caseNumber: HTMLInputElement, justification: HTMLTextAreaElement, authority: Authority): Record<string, string> {
  return { purpose: purpose.value, case_number: caseNumber.value.trim(), justification: justification.value.trim(), ...authorityFields(authority) };
}

function showResults(results: HTMLElement, map: LiveMap, observations: Observation[], what: (o: Observation) => Node | string, marker?: { at: string; label: string }): void {
  results.replaceChildren(...observations.map((o) => el('tr', {}, [
    el('td', {}, [new Date(o.observed_at).toLocaleString()]), el('td', {}, [o.kind.replace(/_/g, ' ')]), el('td', {}, [o.device_id]), el('td', {}, [what(o)]),
  ])));
  void map.setResults(observations.map((o) => [o.lon, o.lat]));
  const timeline = results.closest('section')?.querySelector<HTMLElement>('#results-timeline');
  if (timeline) renderTimeline(timeline, observations, marker);
  results.closest('section')?.scrollIntoView({ block: 'nearest' });
}

/// Where a plate was read: exact, a wildcard pattern (`?` one character, `*` any run), or with OCR
/// misreads tolerated. The same purpose fields; the plate goes into the log only as a keyed hash.
function plateForm(purpose: HTMLSelectElement, caseNumber: HTMLInputElement, justification: HTMLTextAreaElement, authority: Authority, results: HTMLElement, map: LiveMap, exporter: Exporter): HTMLElement {
  const plate = el('input', { id: 'plate', 'aria-label': 'Plate or pattern', placeholder: 'ABC123, or AB?12* with wildcard', autocomplete: 'off' });
  const mode = el('select', { id: 'plate-mode', 'aria-label': 'Match' }, [
    el('option', { value: 'exact' }, ['exact']), el('option', { value: 'wildcard' }, ['wildcard (? and *)']), el('option', { value: 'tolerant' }, ['tolerate misreads (8/B, 0/O, …)']),
  ]);
  const days = el('input', { id: 'plate-days', type: 'number', min: '1', max: '365', value: '7', 'aria-label': 'Days back' });
  const message = el('p', { id: 'plate-message', role: 'status' });
  const form = el('form', { class: 'investigate plate-search' }, [
    el('h2', {}, ['Find a plate']),
    el('label', { for: 'plate' }, ['Plate']), plate,
    el('label', { for: 'plate-mode' }, ['Match']), mode,
    el('label', { for: 'plate-days' }, ['Days back']), days,
    el('button', { type: 'submit', id: 'plate-search' }, ['Search plate (logged)']), message,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // The window ends now, not at the next minute: an export repeats the same query, and must not
    // pick up reads that arrived after the results were shown.
    const to = new Date();
    const from = new Date(to.getTime() - Number(days.value) * 86_400_000);
    const body = { ...stated(purpose, caseNumber, justification, authority), plate: plate.value, mode: mode.value, from: from.toISOString(), to: to.toISOString(), limit: 500 };
    message.className = '';
    message.textContent = 'searching…';
    api<{ results: PlateResult[]; next_cursor: string | null; audit_seq: number }>('/v1/search/plates', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then((reply) => {
        message.textContent = `${reply.results.length}${reply.next_cursor ? '+' : ''} reads · logged as audit entry ${reply.audit_seq}`;
        exporter.remember('/v1/search/plates', body);
        const matched = new Map(reply.results.map((r) => [r.observation.id, r.match]));
        showResults(results, map, reply.results.map((r) => r.observation), (o) => {
          const m = matched.get(o.id);
          return el('span', { class: 'plate' }, [`${o.plate ?? ''}${m && m.via_candidate ? ` (candidate ${m.matched_plate})` : ''}${m && m.distance > 0 ? ` · ${m.distance} off` : ''}`]);
        });
      })
      .catch((error) => { message.className = 'error'; message.textContent = error instanceof ApiError ? `Refused: ${error.message}` : String(error); });
  });
  return form;
}

interface IncidentContext {
  incident: Observation[]; anchor: { lat: number; lon: number; at: string };
  windows: Record<string, { radius_m: number; window_minutes: number }>;
  timeline: Record<string, Observation[]>; cameras: { device: { id: string; name?: string }; distance_m: number }[]; audit_seq: number;
}

/// An incident's neighbourhood: its reports, what each kind saw within its radius and window of the
/// first report, and the cameras that could see it, on the map, the table and the timeline.
function incidentForm(purpose: HTMLSelectElement, caseNumber: HTMLInputElement, justification: HTMLTextAreaElement, authority: Authority, results: HTMLElement, map: LiveMap): HTMLElement {
  const incident = el('input', { id: 'incident-id', 'aria-label': 'Incident id', placeholder: 'CAD incident id', autocomplete: 'off' });
  const message = el('p', { id: 'incident-message', role: 'status' });
  const form = el('form', { class: 'investigate incident-search' }, [
    el('h2', {}, ['Incident context']),
    el('label', { for: 'incident-id' }, ['Incident']), incident,
    el('button', { type: 'submit', id: 'incident-search' }, ['Open context (logged)']), message,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams(stated(purpose, caseNumber, justification, authority));
    message.className = '';
    message.textContent = 'searching…';
    api<IncidentContext>(`/v1/incidents/${encodeURIComponent(incident.value.trim())}/context?${params}`)
      .then((reply) => {
        const around = Object.values(reply.timeline).flat();
        const first = reply.incident[0];
        const label = `${first.type_code ?? 'incident'} ${incident.value.trim()}`;
        const cameras = reply.cameras.map((c) => c.device.name ?? c.device.id);
        message.textContent = `${label}: ${reply.incident.length} report(s), ${around.length} observations around it` +
          `${cameras.length ? `, seen by ${cameras.join(', ')}` : ', no camera covers it'} · logged as audit entry ${reply.audit_seq}`;
        showResults(results, map, [...reply.incident, ...around].sort((a, b) => a.observed_at.localeCompare(b.observed_at)), summary, { at: reply.anchor.at, label });
        map.map.flyTo({ center: [reply.anchor.lon, reply.anchor.lat], zoom: Math.max(map.map.getZoom(), 15) });
      })
      .catch((error) => { message.className = 'error'; message.textContent = error instanceof ApiError ? `Refused: ${error.message}` : String(error); });
  });
  return form;
}

/// What was observed inside an area: a circle around the map's centre (move the map to place it)
/// or a polygon drawn on the map, over a time window placed with a slider (up to a week back).
function areaForm(purpose: HTMLSelectElement, caseNumber: HTMLInputElement, justification: HTMLTextAreaElement, authority: Authority, results: HTMLElement, map: LiveMap, exporter: Exporter): HTMLElement {
  const shape = el('select', { id: 'area-shape', 'aria-label': 'Shape' }, [
    el('option', { value: 'circle' }, ['circle around the map centre']), el('option', { value: 'polygon' }, ['polygon drawn on the map']),
  ]);
  const radius = el('input', { id: 'radius', type: 'number', min: '10', max: '5000', value: '300', 'aria-label': 'Radius in metres' });
  const radiusRow = el('div', { class: 'row' }, [el('label', { for: 'radius' }, ['Radius (m)']), radius]);
  const draw = el('button', { type: 'button', id: 'draw-polygon' }, ['Draw on the map']);
  const finish = el('button', { type: 'button', id: 'finish-polygon', disabled: '' }, ['Finish polygon']);
  const clear = el('button', { type: 'button', id: 'clear-polygon' }, ['Clear']);
  const drawHint = el('p', { id: 'draw-hint', class: 'meta' }, ['Press “Draw on the map”, click the corners, then “Finish polygon”.']);
  const drawRow = el('div', { class: 'row', hidden: '' }, [draw, finish, clear, drawHint]);
  let polygon: [number, number][] | null = null;
  draw.addEventListener('click', () => {
    map.startDrawing();
    polygon = null;
    finish.disabled = false;
    drawHint.textContent = 'Click each corner on the map, then “Finish polygon”.';
  });
  finish.addEventListener('click', () => {
    polygon = map.finishDrawing();
    finish.disabled = true;
    drawHint.textContent = polygon ? `Area of ${polygon.length - 1} corners drawn.` : 'A polygon needs at least three corners; draw again.';
  });
  clear.addEventListener('click', () => { map.clearDrawing(); polygon = null; finish.disabled = true; drawHint.textContent = ''; });
  shape.addEventListener('change', () => {
    radiusRow.hidden = shape.value !== 'circle';
    drawRow.hidden = shape.value !== 'polygon';
  });
  const minutes = el('input', { id: 'circle-minutes', type: 'number', min: '1', max: '10080', value: '60', 'aria-label': 'Window in minutes' });
  // The slider places the window's end, from now back to a week ago, in quarter hours.
  const end = el('input', { id: 'area-end', type: 'range', min: '0', max: String(7 * 24 * 4), step: '1', value: '0', 'aria-label': 'Window ends this many quarter hours ago' });
  const windowLabel = el('p', { id: 'area-window', class: 'meta', 'aria-live': 'polite' });
  const bounds = (): { from: Date; to: Date } => {
    const now = Math.ceil(Date.now() / 60_000) * 60_000;
    const to = new Date(now - Number(end.value) * 15 * 60_000);
    return { from: new Date(to.getTime() - Number(minutes.value) * 60_000), to };
  };
  const describe = (): void => {
    const { from, to } = bounds();
    windowLabel.textContent = `${from.toLocaleString()} – ${to.toLocaleString()}`;
  };
  end.addEventListener('input', describe);
  minutes.addEventListener('input', describe);
  describe();
  const message = el('p', { id: 'circle-message', role: 'status' });
  const form = el('form', { class: 'investigate circle-search' }, [
    el('h2', {}, ['Search an area']),
    el('label', { for: 'area-shape' }, ['Shape']), shape, radiusRow, drawRow,
    el('label', { for: 'circle-minutes' }, ['Window (minutes)']), minutes,
    el('label', { for: 'area-end' }, ['Window ends']), end, windowLabel,
    el('button', { type: 'submit', id: 'circle-search' }, ['Search the area (logged)']), message,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const { from, to } = bounds();
    const where: Record<string, unknown> = {};
    if (shape.value === 'polygon') {
      if (!polygon) { message.className = 'error'; message.textContent = 'Draw and finish a polygon on the map first.'; return; }
      where.polygon = { type: 'Polygon', coordinates: [polygon] };
    } else {
      const centre = map.map.getCenter();
      where.circle = { lat: Number(centre.lat.toFixed(6)), lon: Number(centre.lng.toFixed(6)), radius_m: Number(radius.value) };
    }
    const body = { ...stated(purpose, caseNumber, justification, authority), ...where, from: from.toISOString(), to: to.toISOString(), limit: 1000 };
    message.className = '';
    message.textContent = 'searching…';
    api<{ observations: Observation[]; next_cursor: string | null; audit_seq: number }>('/v1/search/area', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then((reply) => {
        const within = shape.value === 'polygon' ? 'inside the drawn area' : `within ${radius.value} m`;
        message.textContent = `${reply.observations.length}${reply.next_cursor ? '+' : ''} results ${within} · logged as audit entry ${reply.audit_seq}`;
        exporter.remember('/v1/search/area', body);
        showResults(results, map, reply.observations, summary);
      })
      .catch((error) => { message.className = 'error'; message.textContent = error instanceof ApiError ? `Refused: ${error.message}` : String(error); });
  });
  return form;
}

/// Exports the last search's results as a file. Each export is its own request through the purpose
/// gate, logged as an export (not a search), so the audit log shows what left the system.
class Exporter {
  readonly bar: HTMLElement;
  private last: { path: string; body: Record<string, unknown> } | null = null;
  private readonly buttons: HTMLButtonElement[];
  private readonly message = el('span', { id: 'export-message', role: 'status' });

  constructor() {
    this.buttons = (['csv', 'geojson'] as const).map((format) => {
      const button = el('button', { type: 'button', id: `export-${format}`, disabled: '' }, [`Export ${format === 'csv' ? 'CSV' : 'GeoJSON'} (logged)`]);
      button.addEventListener('click', () => { void this.export(format); });
      return button;
    });
    this.bar = el('div', { class: 'export-bar' }, [...this.buttons, this.message]);
  }

  remember(path: string, body: Record<string, unknown>): void {
    this.last = { path, body };
    for (const b of this.buttons) b.disabled = false;
  }

  private async export(format: 'csv' | 'geojson'): Promise<void> {
    if (!this.last) return;
    this.message.className = '';
    this.message.textContent = 'exporting…';
    try {
      const response = await fetch(this.last.path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${getToken() ?? ''}` },
        body: JSON.stringify({ ...this.last.body, format }),
      });
      if (!response.ok) {
        const problem = await response.json().catch(() => null);
        throw new Error(problem?.error ?? `${response.status} ${response.statusText}`);
      }
      const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? `glasshouse-export.${format}`;
      const link = el('a', { href: URL.createObjectURL(await response.blob()), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      this.message.textContent = `${name} · logged as audit entry ${response.headers.get('x-audit-seq')}`;
    } catch (error) {
      this.message.className = 'error';
      this.message.textContent = `Export refused: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
}
