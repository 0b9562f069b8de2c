// The alert queue: newest and most urgent first, with the evidence of each plate hit.

import { type Alert, type AlertStatus, ApiError, api, imageUrl } from './api';
import { renderTimeline } from './timeline';

const DISPOSITIONS = ['misread', 'entry_no_longer_valid', 'vehicle_does_not_match', 'duplicate', 'other'];

// Decided and closed alerts sink below the ones still waiting for an operator.
const WAITING: AlertStatus[] = ['new', 'acknowledged'];

export function sortAlerts(alerts: Alert[]): Alert[] {
  const rank = (a: Alert): number => (WAITING.includes(a.status) ? 0 : a.status === 'closed' ? 2 : 1);
  return [...alerts].sort((a, b) => rank(a) - rank(b) || a.priority - b.priority || b.observed_at.localeCompare(a.observed_at));
}

// What an operator has ticked on a card survives re-renders when other alerts arrive.
const checks = new Map<string, { visual: boolean; source: boolean; disposition: string }>();

function button(label: string, action: string, onClick: () => void, disabled = false): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.action = action;
  b.disabled = disabled;
  b.addEventListener('click', (e) => { e.stopPropagation(); onClick(); });
  return b;
}

function lifecycle(alert: Alert, onUpdated: (a: Alert) => void): HTMLElement {
  const box = document.createElement('div');
  box.className = 'lifecycle';
  box.addEventListener('click', (e) => e.stopPropagation());
  const error = text('p', '', 'error');
  error.setAttribute('role', 'alert');
  const send = (body: Record<string, unknown>): void => {
    api<{ alert: Alert }>(`/v1/alerts/${alert.id}/transitions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then((reply) => { checks.delete(alert.id); onUpdated(reply.alert); })
      .catch((e) => { error.textContent = e instanceof ApiError ? e.message : String(e); });
  };
  const state = checks.get(alert.id) ?? { visual: false, source: false, disposition: '' };
  checks.set(alert.id, state);
  if (alert.status === 'new') {
    box.append(button('Acknowledge', 'acknowledge', () => send({ to: 'acknowledged' })));
  } else if (alert.status === 'acknowledged') {
    const plateHit = alert.hit !== undefined;
    const confirm = button('Confirm', 'confirm', () => send({ to: 'confirmed', visual_check: state.visual, source_check: state.source }), plateHit && !(state.visual && state.source));
    const tick = (label: string, key: 'visual' | 'source'): HTMLElement => {
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = state[key];
      input.dataset.check = key;
      input.addEventListener('change', () => { state[key] = input.checked; confirm.disabled = plateHit && !(state.visual && state.source); });
      const l = document.createElement('label');
      l.append(input, document.createTextNode(` ${label}`));
      return l;
    };
    if (plateHit) box.append(tick('I compared the plate image with the read', 'visual'), tick('I checked the entry in its source system', 'source'));
    const select = document.createElement('select');
    select.setAttribute('aria-label', 'Dismissal reason');
    select.dataset.disposition = '';
    select.append(new Option('— reason to dismiss —', ''), ...DISPOSITIONS.map((d) => new Option(d.replace(/_/g, ' '), d)));
    select.value = state.disposition;
    const dismiss = button('Dismiss', 'dismiss', () => send({ to: 'dismissed', disposition: state.disposition }), !state.disposition);
    select.addEventListener('change', () => { state.disposition = select.value; dismiss.disabled = !select.value; });
    const row = document.createElement('div');
    row.className = 'decide';
    row.append(confirm, select, dismiss);
    box.append(row);
  } else if (alert.status === 'confirmed' || alert.status === 'dismissed') {
    box.append(button('Close', 'close', () => send({ to: 'closed' })));
  }
  const last = alert.history?.[alert.history.length - 1];
  if (last) box.append(text('p', `${last.to} by ${last.actor}, ${new Date(last.at).toLocaleTimeString()}${last.disposition ? ` (${last.disposition.replace(/_/g, ' ')})` : ''}`, 'meta'));
  box.append(error);
  return box;
}


// Marks the reading's characters that the matcher found different from the entry; look-alike glyphs
// (8/B, 0/O, ...) are marked differently from real substitutions.
function matchedMarkup(reading: string, diffs: { position: number; read: string | null; confusable: boolean }[]): HTMLElement {
  const el = document.createElement('span');
  el.className = 'plate';
  [...reading].forEach((c, i) => {
    const span = document.createElement('span');
    span.textContent = c;
    const diff = diffs.find((d) => d.position === i && d.read !== null);
    if (diff) span.className = diff.confusable ? 'confusable' : 'differs';
    el.append(span);
  });
  return el;
}

function text(tag: string, value: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = value;
  if (className) el.className = className;
  return el;
}

/// The reader's crops, fetched only when the operator asks: each viewing is logged for audit.
function cropsView(alertId: string, imageRef: string): HTMLElement {
  const box = document.createElement('div');
  box.className = 'crops';
  const show = document.createElement('button');
  show.type = 'button';
  show.textContent = 'Show plate and vehicle images';
  show.addEventListener('click', async (event) => {
    event.stopPropagation();
    show.disabled = true;
    const roles = ['plate', 'vehicle'].filter((role) => imageRef.includes(`${role}=`));
    try {
      const urls = await Promise.all(roles.map((role) => imageUrl(`/v1/alerts/${encodeURIComponent(alertId)}/images/${role}`)));
      box.replaceChildren(...urls.map((url, i) => {
        const img = document.createElement('img');
        img.src = url;
        img.alt = `${roles[i]} crop`;
        img.className = `crop crop-${roles[i]}`;
        return img;
      }));
    } catch (e) {
      box.replaceChildren(text('span', e instanceof Error ? e.message : String(e), 'error'));
    }
  });
  box.append(show);
  return box;
}

export function renderAlert(alert: Alert, onSelect: (a: Alert) => void, onUpdated: (a: Alert) => void): HTMLElement {
  const card = document.createElement('li');
  card.className = `alert priority-${alert.priority} status-${alert.status}`;
  card.dataset.status = alert.status;
  card.dataset.alertId = alert.id;
  card.dataset.observationId = alert.observation_id;
  card.tabIndex = 0;
  card.setAttribute('role', 'button');
  card.setAttribute('aria-label', `Alert ${alert.rule} ${alert.plate ?? ''}, priority ${alert.priority}`);
  const head = document.createElement('div');
  head.className = 'alert-head';
  head.append(text('span', `P${alert.priority}`, 'badge'), text('span', alert.rule === 'hotlist' ? 'Hotlist hit' : alert.rule === 'threshold' ? 'Sensor threshold' : alert.rule === 'situation' ? 'Situation' : alert.rule === 'geofence' ? 'Geofence' : alert.rule === 'device_silent' ? 'Device silent' : alert.rule, 'rule'), text('span', alert.status, 'alert-status'));
  card.append(head);
  const hit = alert.hit;
  if (hit) {
    const evidence = document.createElement('dl');
    evidence.className = 'evidence';
    const row = (label: string, value: HTMLElement | string): void => {
      evidence.append(text('dt', label));
      const dd = document.createElement('dd');
      dd.append(value);
      evidence.append(dd);
    };
    const differing = hit.diffs ?? [];
    row('Read', hit.from_candidate ? text('span', hit.plate, 'plate') : matchedMarkup(hit.matched_plate, differing));
    if (hit.from_candidate) row('Matched', matchedMarkup(hit.matched_plate, differing));
    if (differing.length > 0) {
      const described = differing.map((d) => d.read === null ? `missing ${d.listed} at ${d.position + 1}` : d.listed === null ? `extra ${d.read} at ${d.position + 1}` : `${d.read} for ${d.listed} at ${d.position + 1}${d.confusable ? ' (look-alike)' : ''}`);
      row('Differs', text('span', described.join('; '), 'differs-list'));
    }
    row('Listed', text('span', `${hit.entry_plate}${hit.entry_region ? ` (${hit.entry_region})` : ''}`, 'plate'));
    if (hit.vehicle?.length) {
      const described = hit.vehicle.map((v) => `${v.value.replace(/[-_]/g, ' ')}${v.confidence !== undefined ? ` (${Math.round(v.confidence * 100)} %)` : ''}`);
      row('Vehicle', text('span', described.join(' · '), 'vehicle'));
    }
    if (hit.image_ref?.startsWith('blob:')) row('Images', cropsView(alert.id, hit.image_ref));
    row('Reason', hit.reason.replace(/_/g, ' '));
    row('List', hit.hotlist_name);
    evidence.append();
    card.append(evidence);
    card.append(text('p', 'An alert is not a stop: confirm the plate visually and against the source system first.', 'caution'));
  }
  if (alert.retroactive) card.append(text('p', 'Retroactive: this read was made before the plate was listed.', 'caution'));
  if (alert.threshold) {
    const t = alert.threshold;
    card.append(text('p', `${t.rule_name}: ${t.quantity.replace(/_/g, ' ')} ${t.value} ${t.unit} (level ${t.level}${t.trigger === 'rate' ? ', rising fast' : ''})`, 'threshold'));
  }
  if (alert.situation) card.append(situationView(alert));
  if (alert.geofence) card.append(text('p', geofenceLine(alert.geofence), 'geofence'));
  if (alert.silence) {
    const s = alert.silence;
    card.append(text('p', `${alert.device_id} not heard from since ${new Date(s.last_heard_at).toLocaleString()} (${s.rule_name}: ${s.minutes} min)`, 'silence'));
  }
  card.append(text('p', `${alert.device_id} · ${new Date(alert.observed_at).toLocaleString()}`, 'meta'));
  const repeats = alert.repeats ?? [];
  if (repeats.length > 0) {
    const last = repeats[repeats.length - 1];
    card.append(text('p', `Seen again ${repeats.length}× · last ${last.device_id}, ${new Date(last.observed_at).toLocaleTimeString()}`, 'repeats'));
  }
  card.append(lifecycle(alert, onUpdated));
  card.addEventListener('click', () => onSelect(alert));
  card.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(alert); } });
  return card;
}

interface Situation {
  cameras: { device: { id: string; name?: string }; distance_m: number }[];
  windows: Record<string, { radius_m: number; window_minutes: number }>;
  timeline: Record<string, { id: string; kind?: string; observed_at: string; device_id: string; lat?: number; lon?: number; plate?: string; type_code?: string; quantity?: string; value?: number }[]>;
  audit_seq: number;
}

const GEOFENCE_VERBS = { enter: 'entered', exit: 'left', inside: 'is inside', dwell: 'has stayed in' } as const;

/// "Listed vehicle ABC123 entered city centre": who, what and where, in the operator's words.
function geofenceLine(g: NonNullable<Alert['geofence']>): string {
  const [kind, id] = g.subject.split(/:(.*)/s);
  const who = kind === 'plate' ? `Listed vehicle ${id}` : `Device ${id}`;
  const dwell = g.trigger === 'dwell' && g.dwell_s !== undefined ? ` for ${Math.round(g.dwell_s / 60)} min` : '';
  return `${who} ${GEOFENCE_VERBS[g.trigger]} ${g.rule_name}${dwell}`;
}

/// A situation's trigger, and on demand its context: the cameras that can see the point and what was
/// observed around it (each opening is logged).
// The queue is re-rendered whenever an alert arrives, so a situation's view is kept per alert: an
// opened context stays open (and is not fetched, nor logged, again) across re-renders.
const situationViews = new Map<string, HTMLElement>();

/// Where a situation's observations are shown on the live map (set by the operator's view).
let showOnMap: ((points: [number, number][], alert: Alert) => void) | null = null;
export function onShowSituation(show: (points: [number, number][], alert: Alert) => void): void { showOnMap = show; }

function situationView(alert: Alert): HTMLElement {
  const kept = situationViews.get(alert.id);
  if (kept) return kept;
  const s = alert.situation!;
  const box = document.createElement('div');
  situationViews.set(alert.id, box);
  box.className = 'situation';
  const what = s.kind === 'gunshot' ? `Gunshot detected${s.rounds ? `, ${s.rounds} rounds` : ''}` : `Incident ${s.label.replace(/_/g, ' ')}${s.incident_id ? ` (${s.incident_id})` : ''}`;
  box.append(text('p', what, 'situation-trigger'));
  const open = document.createElement('button');
  open.type = 'button';
  open.textContent = 'Open situation (logged)';
  open.className = 'open-situation';
  const body = document.createElement('div');
  open.addEventListener('click', (e) => {
    e.stopPropagation();
    body.textContent = 'loading…';
    api<Situation>(`/v1/situations/${encodeURIComponent(alert.id)}`)
      .then((situation) => {
        const cameras = situation.cameras.map((c) => `${c.device.name ?? c.device.id} (${c.distance_m} m)`);
        const reads = situation.timeline.plate_read ?? [];
        const rows = reads.map((o) => {
          const tr = document.createElement('tr');
          tr.append(text('td', new Date(o.observed_at).toLocaleTimeString()), text('td', o.device_id), text('td', o.plate ?? '', 'plate'));
          return tr;
        });
        const table = document.createElement('table');
        table.className = 'situation-reads';
        table.append(...rows);
        const w = situation.windows.plate_read;
        // Everything nearby on one timeline against the trigger, and on the live map on demand.
        const everything = Object.entries(situation.timeline).flatMap(([kind, list]) => list.map((o) => ({ ...o, kind: o.kind ?? kind })));
        const timeline = document.createElement('div');
        timeline.className = 'situation-timeline';
        renderTimeline(timeline, everything, { at: alert.observed_at, label: what });
        const show = document.createElement('button');
        show.type = 'button';
        show.className = 'show-situation';
        show.textContent = `Show ${everything.length} on the map`;
        show.addEventListener('click', (event) => {
          event.stopPropagation();
          showOnMap?.(everything.filter((o) => o.lat !== undefined && o.lon !== undefined).map((o) => [o.lon as number, o.lat as number]), alert);
        });
        body.replaceChildren(
          text('p', cameras.length ? `Cameras that can see it: ${cameras.join(', ')}` : 'No registered camera covers this point.', 'situation-cameras'),
          text('p', `${reads.length} plate reads within ${w.radius_m} m and ±${w.window_minutes} min · logged as audit entry ${situation.audit_seq}`, 'situation-count'),
          timeline, show, table,
        );
      })
      .catch((error) => { body.textContent = error instanceof ApiError ? error.message : String(error); });
  });
  box.append(open, body);
  return box;
}
