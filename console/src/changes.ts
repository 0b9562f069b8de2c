// Two-person changes in the console: retention windows (custodians propose; another custodian or a
// supervisor decides), where alerts are shared (administrators propose; a supervisor or another
// administrator decides), and legal holds (proposed by custodians and investigators, decided by a
// supervisor). The server enforces who may decide; the console only leaves out buttons that could
// never work, such as approving one's own proposal.

import { type Account, api, errorMessage, postJson } from './api';
import { el, when } from './dom';
import { renderWarrants, warrantForm } from './warrants';

export type Subject = 'retention' | 'sharing';

interface Change {
  id: string; subject: Subject; proposed: Record<string, unknown>; reason: string;
  proposed_by: string; proposed_at: string; status: 'proposed' | 'applied' | 'rejected';
  decided_by?: string; decided_at?: string;
}

interface Hold {
  id: string; case_number: string; authority: string; authority_reference: string;
  scope: { plates: string[]; devices: string[]; from: string; to: string };
  expires_at: string; proposed_by: string; status: string; state: string; decided_by?: string;
}

const BASE: Record<Subject, string> = { retention: '/v1/retention/changes', sharing: '/v1/sharing/changes' };

/// What a proposal would do, in words.
function summary(change: Change): string {
  const p = change.proposed;
  if (change.subject === 'retention') {
    const days = (p.days ?? {}) as Record<string, number>;
    return `keep ${Object.entries(days).map(([kind, d]) => `${kind.replace(/_/g, ' ')} ${d} days`).join(', ')}`;
  }
  if (typeof p.remove === 'string') return `stop sharing with ${p.remove}`;
  const add = (p.add ?? {}) as Record<string, Record<string, unknown> | string>;
  const kind = ['webhook', 'nats', 'mqtt'].find((k) => k in add) ?? 'sink';
  const target = add[kind] as Record<string, unknown> | undefined;
  const where = target ? String(target.url ?? `${target.host}:${target.port ?? 1883}`) : '';
  const channel = target && (target.subject ?? target.topic) ? ` ${String(target.subject ?? target.topic)}` : '';
  return `share alerts with ${String(add.name)} (${kind} ${where}${channel})`;
}

/// Approve and reject buttons posting `{approve}` to `path` (actions `approve<suffix>` and
/// `reject<suffix>`); a refusal is shown in `error`, a decision calls `then`.
function decisionButtons(path: string, approveLabel: string, suffix: string, error: HTMLElement, then: () => Promise<unknown>): HTMLElement {
  const decide = (approve: boolean): void => {
    postJson(path, { approve }).then(then).catch((e) => { error.textContent = errorMessage(e); });
  };
  const approve = el('button', { type: 'button', 'data-action': `approve${suffix}` }, [approveLabel]);
  approve.addEventListener('click', () => decide(true));
  const reject = el('button', { type: 'button', 'data-action': `reject${suffix}` }, ['Reject']);
  reject.addEventListener('click', () => decide(false));
  return el('div', { class: 'decide' }, [approve, reject]);
}

/// The changes about `subject`, newest first, with approve and reject buttons where `me` may decide.
export async function renderChanges(list: HTMLElement, subject: Subject, me: Account, canDecide: boolean, onChange?: () => void): Promise<void> {
  const { changes } = await api<{ changes: Change[] }>(BASE[subject]);
  list.replaceChildren(...(changes.length ? changes.map((c) => {
    const error = el('p', { class: 'error', role: 'alert' });
    const item = el('li', { class: `alert change status-${c.status}`, 'data-change-id': c.id, 'data-status': c.status }, [
      el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [summary(c)]), el('span', { class: 'alert-status' }, [c.status])]),
      el('p', {}, [`${c.proposed_by}: “${c.reason}”`]),
      el('p', { class: 'meta' }, [c.status === 'proposed' ? `proposed ${when(c.proposed_at)}` : `${c.status} by ${c.decided_by ?? ''} ${when(c.decided_at)}`]),
    ]);
    if (c.status === 'proposed' && canDecide) {
      if (c.proposed_by === me.name) {
        item.append(el('p', { class: 'meta' }, ['Waiting for a second person: you cannot decide your own proposal.']));
      } else {
        item.append(decisionButtons(`${BASE[subject]}/${c.id}/decision`, 'Approve (logged)', '', error, () => {
          onChange?.();
          return renderChanges(list, subject, me, canDecide, onChange);
        }));
      }
    }
    item.append(error);
    return item;
  }) : [el('li', { class: 'meta' }, ['No proposals yet.'])]));
}

/// Legal holds, with a supervisor's decision buttons on proposed ones that are not their own.
export async function renderHolds(list: HTMLElement, me: Account, canDecide: boolean): Promise<void> {
  const { holds } = await api<{ holds: Hold[] }>('/v1/holds');
  list.replaceChildren(...(holds.length ? holds.map((h) => {
    const error = el('p', { class: 'error', role: 'alert' });
    const scope = [h.scope.plates.length ? `${h.scope.plates.length} plate(s)` : '', h.scope.devices.length ? `${h.scope.devices.length} device(s)` : '']
      .filter(Boolean).join(', ');
    const item = el('li', { class: 'alert hold', 'data-hold-id': h.id, 'data-state': h.state }, [
      el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [`Hold · ${h.case_number}`]), el('span', { class: 'alert-status' }, [h.state.replace(/_/g, ' ')])]),
      el('p', {}, [`${h.authority.replace(/_/g, ' ')} ${h.authority_reference}: ${scope}, ${when(h.scope.from)} – ${when(h.scope.to)}`]),
      el('p', { class: 'meta' }, [`proposed by ${h.proposed_by} · lapses ${when(h.expires_at)}`]),
    ]);
    if (h.state === 'proposed' && canDecide && h.proposed_by !== me.name) {
      item.append(decisionButtons(`/v1/holds/${h.id}/decision`, 'Approve hold (logged)', '-hold', error, () => renderHolds(list, me, canDecide)));
    }
    item.append(error);
    return item;
  }) : [el('li', { class: 'meta' }, ['No holds.'])]));
}

/// Proposes a legal hold: a case, the authority behind it, the plates or devices and the time range
/// to keep, and when it lapses. A supervisor other than the proposer approves it.
export function holdForm(onProposed: () => void): HTMLFormElement {
  const input = (id: string, label: string, attrs: Record<string, string> = {}): [HTMLLabelElement, HTMLInputElement] =>
    [el('label', { for: id }, [label]), el('input', { id, ...attrs })];
  const [caseLabel, caseNumber] = input('hold-case', 'Case number', { required: '', placeholder: 'e.g. HPD-2026-0042' });
  const authority = el('select', { id: 'hold-authority', 'aria-label': 'Authority' }, [
    el('option', { value: 'court_order' }, ['court order']), el('option', { value: 'warrant' }, ['warrant']), el('option', { value: 'preservation_request' }, ['preservation request']),
  ]);
  const [referenceLabel, reference] = input('hold-reference', 'Its reference', { required: '', placeholder: 'e.g. WRT-2026-0042' });
  const [platesLabel, plates] = input('hold-plates', 'Plates (comma-separated)', { placeholder: 'optional' });
  const [devicesLabel, devices] = input('hold-devices', 'Devices (comma-separated)', { placeholder: 'optional' });
  const [fromLabel, from] = input('hold-from', 'Records from', { required: '', type: 'datetime-local' });
  const [toLabel, to] = input('hold-to', 'Records to', { required: '', type: 'datetime-local' });
  const [expiresLabel, expires] = input('hold-expires', 'Hold lapses on', { required: '', type: 'date' });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { id: 'hold-form', class: 'inline-form stacked' }, [
    caseLabel, caseNumber, el('label', { for: 'hold-authority' }, ['Authority']), authority, referenceLabel, reference,
    platesLabel, plates, devicesLabel, devices, fromLabel, from, toLabel, to, expiresLabel, expires,
    el('button', { type: 'submit' }, ['Propose hold (a supervisor decides)']), error,
  ]);
  const list = (text: string): string[] => text.split(',').map((x) => x.trim()).filter(Boolean);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.textContent = '';
    const body = {
      case_number: caseNumber.value.trim(), authority: authority.value, authority_reference: reference.value.trim(),
      plates: list(plates.value), devices: list(devices.value),
      from: new Date(from.value).toISOString(), to: new Date(to.value).toISOString(), expires_at: new Date(`${expires.value}T23:59:59`).toISOString(),
    };
    postJson('/v1/holds', body).then(() => { form.reset(); onProposed(); }).catch((err) => { error.textContent = errorMessage(err); });
  });
  return form;
}

/// The records custodian's view: retention windows, a proposal form, the changes, holds, and a
/// purge on demand with its receipts.
export async function renderCustodian(app: HTMLElement, me: Account): Promise<void> {
  const windows = el('tbody', { id: 'retention-windows' });
  const changes = el('ol', { id: 'retention-changes', class: 'alert-list' });
  const holds = el('ol', { id: 'holds', class: 'alert-list' });
  const warrants = el('ol', { id: 'warrants', class: 'alert-list' });
  const refreshWindows = async (): Promise<void> => {
    const retention = await api<{ windows: Record<string, { days: number; keeps_from: string }>; holds_in_force: number }>('/v1/retention');
    windows.replaceChildren(...Object.entries(retention.windows).map(([kind, w]) => el('tr', { 'data-kind': kind }, [
      el('th', { scope: 'row' }, [kind.replace(/_/g, ' ')]), el('td', { class: 'days' }, [String(w.days)]), el('td', {}, [when(w.keeps_from)]),
    ])));
  };
  const kind = el('select', { id: 'retention-kind', 'aria-label': 'Kind' });
  const days = el('input', { id: 'retention-days', type: 'number', min: '1', max: '3650', required: '', 'aria-label': 'Days' });
  const reason = el('input', { id: 'retention-reason', required: '', 'aria-label': 'Reason', placeholder: 'why, in at least five words' });
  const formError = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { id: 'retention-form', class: 'inline-form' }, [
    el('label', { for: 'retention-kind' }, ['Kind']), kind, el('label', { for: 'retention-days' }, ['Days']), days,
    el('label', { for: 'retention-reason' }, ['Reason']), reason, el('button', { type: 'submit' }, ['Propose (a second person decides)']), formError,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    formError.textContent = '';
    postJson('/v1/retention/changes', { days: { [kind.value]: Number(days.value) }, reason: reason.value })
      .then(() => { reason.value = ''; return renderChanges(changes, 'retention', me, true, () => void refreshWindows()); })
      .catch((err) => { formError.textContent = errorMessage(err); });
  });
  const purgeButton = el('button', { type: 'button', id: 'purge-now' }, ['Purge expired records now (logged)']);
  const receipts = el('ol', { id: 'purge-receipts', class: 'alert-list' });
  purgeButton.addEventListener('click', () => {
    api<{ receipts: { kind: string; deleted: number; ids_sha256: string }[] }>('/v1/retention/purge', { method: 'POST' })
      .then(({ receipts: list }) => {
        receipts.replaceChildren(...(list.length
          ? list.map((r) => el('li', { class: 'meta' }, [`${r.kind.replace(/_/g, ' ')}: ${r.deleted} deleted · SHA-256 of ids ${r.ids_sha256.slice(0, 16)}…`]))
          : [el('li', { class: 'meta' }, ['Nothing had expired.'])]));
      })
      .catch((err) => { receipts.replaceChildren(el('li', { class: 'error' }, [errorMessage(err)])); });
  });
  app.replaceChildren(el('section', { class: 'custodian' }, [
    el('h1', {}, ['Retention, holds and warrants']),
    el('p', {}, [`Signed in as ${me.name} (records custodian). Counts and configuration only: this role has no access to observations.`]),
    el('h2', {}, ['Retention windows']),
    el('table', {}, [el('thead', {}, [el('tr', {}, [el('th', {}, ['Kind']), el('th', {}, ['Days']), el('th', {}, ['Keeps records from'])])]), windows]),
    form,
    el('h2', {}, ['Proposed and decided changes']), changes,
    el('h2', {}, ['Legal holds']), holdForm(() => { void renderHolds(holds, me, false); }), holds,
    el('h2', {}, ['Warrants']), warrantForm(() => { void renderWarrants(warrants); }), warrants,
    el('h2', {}, ['Purge']), purgeButton, receipts,
  ]));
  await refreshWindows();
  const retention = await api<{ windows: Record<string, unknown> }>('/v1/retention');
  kind.replaceChildren(...Object.keys(retention.windows).map((k) => el('option', { value: k }, [k.replace(/_/g, ' ')])));
  await renderChanges(changes, 'retention', me, true, () => void refreshWindows());
  await renderHolds(holds, me, false);
  await renderWarrants(warrants);
}

/// The administrator's sharing form: propose a sink (NATS subject, MQTT topic or signed webhook).
export function sharingForm(onProposed: () => void): HTMLFormElement {
  const name = el('input', { id: 'share-name', required: '', pattern: '[A-Za-z0-9_\\-]{1,64}', 'aria-label': 'Sink name', placeholder: 'name' });
  const kind = el('select', { id: 'share-kind', 'aria-label': 'Kind' }, [
    el('option', { value: 'nats' }, ['NATS subject']), el('option', { value: 'mqtt' }, ['MQTT topic']), el('option', { value: 'webhook' }, ['Webhook (signed)']),
  ]);
  const address = el('input', { id: 'share-address', required: '', 'aria-label': 'Address', placeholder: 'host:port or http://…' });
  const channel = el('input', { id: 'share-channel', 'aria-label': 'Subject, topic or secret', placeholder: 'subject / topic / webhook secret' });
  const reason = el('input', { id: 'share-reason', required: '', 'aria-label': 'Reason', placeholder: 'why, in at least five words' });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { id: 'sharing-form', class: 'inline-form' }, [
    name, kind, address, channel, reason, el('button', { type: 'submit' }, ['Propose sharing (a second person decides)']), error,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.textContent = '';
    const sink: Record<string, unknown> = { name: name.value };
    if (kind.value === 'nats') sink.nats = { url: address.value, subject: channel.value };
    else if (kind.value === 'mqtt') {
      const [host, port] = address.value.split(':');
      sink.mqtt = { host, port: port ? Number(port) : 1883, topic: channel.value };
    } else sink.webhook = { url: address.value, secret: channel.value };
    postJson('/v1/sharing/changes', { add: sink, reason: reason.value })
      .then(() => { form.reset(); onProposed(); })
      .catch((err) => { error.textContent = errorMessage(err); });
  });
  return form;
}

/// Proposes ending an approved sink.
export function proposeRemoval(name: string, reason: string): Promise<unknown> {
  return postJson('/v1/sharing/changes', { remove: name, reason });
}
