// The alert queue: newest and most urgent first, with the evidence of each plate hit.

import type { Alert } from './api';

export function sortAlerts(alerts: Alert[]): Alert[] {
  return [...alerts].sort((a, b) => a.priority - b.priority || b.observed_at.localeCompare(a.observed_at));
}

// Marks the characters of `read` that differ from `listed`, position by position, so an operator
// sees at a glance whether a hit rests on the exact plate or on an alternative reading.
export function diffMarkup(read: string, listed: string): HTMLElement {
  const el = document.createElement('span');
  el.className = 'plate';
  for (let i = 0; i < Math.max(read.length, listed.length); i++) {
    const c = document.createElement('span');
    c.textContent = read[i] ?? '·';
    if (read[i] !== listed[i]) c.className = 'differs';
    el.append(c);
  }
  return el;
}

function text(tag: string, value: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = value;
  if (className) el.className = className;
  return el;
}

export function renderAlert(alert: Alert, onSelect: (a: Alert) => void): HTMLElement {
  const card = document.createElement('li');
  card.className = `alert priority-${alert.priority}`;
  card.dataset.alertId = alert.id;
  card.dataset.observationId = alert.observation_id;
  card.tabIndex = 0;
  card.setAttribute('role', 'button');
  card.setAttribute('aria-label', `Alert ${alert.rule} ${alert.plate ?? ''}, priority ${alert.priority}`);
  const head = document.createElement('div');
  head.className = 'alert-head';
  head.append(text('span', `P${alert.priority}`, 'badge'), text('span', alert.rule === 'hotlist' ? 'Hotlist hit' : alert.rule, 'rule'), text('span', alert.status, 'alert-status'));
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
    row('Read', diffMarkup(hit.plate, hit.entry_plate));
    if (hit.from_candidate) row('Matched', diffMarkup(hit.matched_plate, hit.entry_plate));
    row('Listed', text('span', `${hit.entry_plate}${hit.entry_region ? ` (${hit.entry_region})` : ''}`, 'plate'));
    row('Reason', hit.reason.replace(/_/g, ' '));
    row('List', hit.hotlist_name);
    evidence.append();
    card.append(evidence);
    card.append(text('p', 'An alert is not a stop: confirm the plate visually and against the source system first.', 'caution'));
  }
  card.append(text('p', `${alert.device_id} · ${new Date(alert.observed_at).toLocaleString()}`, 'meta'));
  card.addEventListener('click', () => onSelect(alert));
  card.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onSelect(alert); } });
  return card;
}
