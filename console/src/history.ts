// Alert history for people who work shifts: what was raised in a span of time, narrowed by status,
// rule family and device, a page at a time (the server's cursor, so alerts raised meanwhile never
// repeat or shift a page).

import { api, type Alert } from './api';
import { el } from './dom';

const PAGE_SIZE = 50;
const STATUSES = ['new', 'acknowledged', 'confirmed', 'dismissed', 'closed'];
const FAMILIES = ['hotlist', 'threshold', 'situation', 'geofence', 'device_silent'];

interface Page { alerts: Alert[]; next_cursor?: string }

/// The query for the form's current values; `datetime-local` values are the operator's local time.
export function historyQuery(values: { status: string; rule: string; device: string; from: string; to: string }): URLSearchParams {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (values.status) query.set('status', values.status);
  if (values.rule) query.set('rule', values.rule);
  if (values.device.trim()) query.set('device_id', values.device.trim());
  if (values.from) query.set('from', new Date(values.from).toISOString());
  if (values.to) query.set('to', new Date(values.to).toISOString());
  return query;
}

function summary(alert: Alert): string {
  const what = alert.hit ? `${alert.hit.entry_plate} on ${alert.hit.hotlist_name}`
    : alert.threshold ? `${alert.threshold.rule_name}: ${alert.threshold.value} ${alert.threshold.unit}`
    : alert.geofence ? `${alert.geofence.rule_name} (${alert.geofence.trigger})`
    : alert.silence ? `${alert.silence.rule_name}`
    : alert.situation ? alert.situation.label : alert.rule;
  return `${new Date(alert.raised_at).toLocaleString()} · ${alert.rule.replace(/_/g, ' ')} · ${what} · ${alert.device_id} · ${alert.status}`;
}

/// The history section; `onSelect` shows an alert on the map.
export function renderHistory(onSelect: (a: Alert) => void): HTMLElement {
  const select = (id: string, label: string, options: string[]): HTMLSelectElement => {
    const s = el('select', { id, 'aria-label': label });
    s.append(new Option(`any ${label.toLowerCase()}`, ''), ...options.map((o) => new Option(o.replace(/_/g, ' '), o)));
    return s;
  };
  const status = select('history-status', 'Status', STATUSES);
  const rule = select('history-rule', 'Rule', FAMILIES);
  const device = el('input', { id: 'history-device', type: 'text', placeholder: 'device id', 'aria-label': 'Device' });
  const from = el('input', { id: 'history-from', type: 'datetime-local', 'aria-label': 'Raised from' });
  const to = el('input', { id: 'history-to', type: 'datetime-local', 'aria-label': 'Raised before' });
  const results = el('ol', { id: 'history-results', class: 'history-list' });
  const more = el('button', { type: 'button', id: 'history-more', hidden: '' }, ['Older alerts']);
  const error = el('p', { class: 'error', role: 'alert' });
  let cursor: string | undefined;
  let query = new URLSearchParams();

  const load = async (): Promise<void> => {
    error.textContent = '';
    const page = new URLSearchParams(query);
    if (cursor) page.set('cursor', cursor);
    try {
      const { alerts, next_cursor } = await api<Page>(`/v1/alerts?${page}`);
      for (const alert of alerts) {
        const row = el('li', { 'data-alert-id': alert.id, tabindex: '0', role: 'button' }, [summary(alert)]);
        row.addEventListener('click', () => onSelect(alert));
        results.append(row);
      }
      cursor = next_cursor;
      more.hidden = cursor === undefined;
      results.dataset.count = String(results.children.length);
      if (results.children.length === 0) results.append(el('li', { class: 'meta' }, ['No alert matches.']));
    } catch (e) {
      error.textContent = e instanceof Error ? e.message : String(e);
    }
  };
  const form = el('form', { class: 'history-form' }, [status, rule, device, from, to, el('button', { type: 'submit' }, ['Show'])]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    query = historyQuery({ status: status.value, rule: rule.value, device: device.value, from: from.value, to: to.value });
    cursor = undefined;
    results.replaceChildren();
    void load();
  });
  more.addEventListener('click', () => { void load(); });
  return el('details', { class: 'history', id: 'alert-history' }, [el('summary', {}, ['Alert history']), form, error, results, more]);
}
