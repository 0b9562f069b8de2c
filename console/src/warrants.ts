// What searches rest on: cases, warrants and exigency reviews. Supervisors open and close the cases
// searches must name. Custodians and supervisors register a warrant from its signed document (the
// console hashes the file locally; only the SHA-256 reaches the server) and revoke it; supervisors
// close the reviews that exigency claims open, each within a day. The server enforces who may do
// what and audits every step.

import { type Account, api, errorMessage, postJson } from './api';
import { el, when } from './dom';

interface Warrant {
  id: string; reference: string; issuing_authority: string; case_number: string;
  scope: { plates: string[]; bbox?: number[] | null; from: string; to: string };
  expires_at: string; document_sha256: string; registered_by: string; state: 'in_force' | 'expired' | 'revoked';
  revoked_by?: string;
}

interface Review {
  id: string; reference: string; claimed_by: string; case_number: string; purpose: string;
  opened_at: string; due_at: string; searches: number[]; state: 'open' | 'overdue' | 'upheld' | 'not_upheld'; decided_by?: string;
}

/// The SHA-256 of a file, as lowercase hex, computed in the browser: the document itself never leaves it.
async function sha256(file: File): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/// Registered warrants, newest first, each with a revoke form while in force.
export async function renderWarrants(list: HTMLElement): Promise<void> {
  const { warrants } = await api<{ warrants: Warrant[] }>('/v1/warrants');
  list.replaceChildren(...(warrants.length ? warrants.map((w) => {
    const error = el('p', { class: 'error', role: 'alert' });
    const scope = [w.scope.plates.length ? `${w.scope.plates.length} plate(s)` : '', w.scope.bbox ? 'an area' : ''].filter(Boolean).join(' and ');
    const item = el('li', { class: 'alert warrant', 'data-warrant-id': w.id, 'data-reference': w.reference, 'data-state': w.state }, [
      el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [`${w.reference} · ${w.case_number}`]), el('span', { class: 'alert-status' }, [w.state.replace(/_/g, ' ')])]),
      el('p', {}, [`${w.issuing_authority}: ${scope}, records ${when(w.scope.from)} – ${when(w.scope.to)}`]),
      el('p', { class: 'meta' }, [`registered by ${w.registered_by} · authority ends ${when(w.expires_at)} · document SHA-256 ${w.document_sha256.slice(0, 16)}…`]),
    ]);
    if (w.state === 'in_force') {
      const reason = el('input', { 'aria-label': 'Why it is revoked', placeholder: 'why (e.g. quashed on appeal)' });
      const revoke = el('button', { type: 'button', 'data-action': 'revoke-warrant' }, ['Revoke (logged)']);
      revoke.addEventListener('click', () => {
        postJson(`/v1/warrants/${w.id}/revocation`, { reason: reason.value }).then(() => renderWarrants(list)).catch((e) => { error.textContent = errorMessage(e); });
      });
      item.append(el('div', { class: 'decide' }, [reason, revoke]));
    }
    item.append(error);
    return item;
  }) : [el('li', { class: 'meta' }, ['No warrants registered.'])]));
}

/// Registers a warrant: its reference, the issuing court, the case, the plates and/or area and the
/// records' time range it allows, when its authority ends, and the SHA-256 of the signed document.
export function warrantForm(onRegistered: () => void): HTMLFormElement {
  const input = (id: string, label: string, attrs: Record<string, string> = {}): [HTMLLabelElement, HTMLInputElement] =>
    [el('label', { for: id }, [label]), el('input', { id, ...attrs })];
  const [referenceLabel, reference] = input('warrant-reference-new', 'Reference', { required: '', placeholder: 'e.g. WRT-2026-0042' });
  const [issuerLabel, issuer] = input('warrant-issuer', 'Issued by', { required: '', placeholder: 'court or judge' });
  const [caseLabel, caseNumber] = input('warrant-case', 'Case number', { required: '', placeholder: 'e.g. HPD-2026-0042' });
  const [platesLabel, plates] = input('warrant-plates', 'Plates (comma-separated)', { placeholder: 'plates, an area, or both' });
  const [bboxLabel, bbox] = input('warrant-bbox', 'Area: west,south,east,north', { placeholder: 'optional, e.g. 24.93,60.16,24.96,60.18' });
  const [fromLabel, from] = input('warrant-from', 'Records from', { required: '', type: 'datetime-local' });
  const [toLabel, to] = input('warrant-to', 'Records to', { required: '', type: 'datetime-local' });
  const [expiresLabel, expires] = input('warrant-expires', 'Authority ends on', { required: '', type: 'date' });
  const [documentLabel, documentFile] = input('warrant-document', 'Signed document (hashed here, not uploaded)', { type: 'file' });
  const [hashLabel, hash] = input('warrant-sha256', 'Document SHA-256', { required: '', placeholder: 'chosen file\'s hash, or paste it', pattern: '[0-9a-f]{64}' });
  documentFile.addEventListener('change', () => {
    const file = documentFile.files?.[0];
    if (file) void sha256(file).then((hex) => { hash.value = hex; });
  });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { id: 'warrant-form', class: 'inline-form stacked' }, [
    referenceLabel, reference, issuerLabel, issuer, caseLabel, caseNumber, platesLabel, plates, bboxLabel, bbox,
    fromLabel, from, toLabel, to, expiresLabel, expires, documentLabel, documentFile, hashLabel, hash,
    el('button', { type: 'submit' }, ['Register warrant (logged)']), error,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.textContent = '';
    const area = bbox.value.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
    if (area.length !== 0 && (area.length !== 4 || area.some(Number.isNaN))) {
      error.textContent = 'The area takes four numbers: west, south, east, north.';
      return;
    }
    const body = {
      reference: reference.value.trim(), issuing_authority: issuer.value.trim(), case_number: caseNumber.value.trim(),
      plates: plates.value.split(',').map((x) => x.trim()).filter(Boolean), bbox: area.length ? area : undefined,
      from: new Date(from.value).toISOString(), to: new Date(to.value).toISOString(),
      expires_at: new Date(`${expires.value}T23:59:59`).toISOString(), document_sha256: hash.value.trim(),
    };
    postJson('/v1/warrants', body).then(() => { form.reset(); onRegistered(); }).catch((err) => { error.textContent = errorMessage(err); });
  });
  return form;
}

/// Exigency reviews, open and overdue first; a supervisor closes one that is not their own claim.
export async function renderReviews(list: HTMLElement, me: Account): Promise<void> {
  const { reviews, open, overdue } = await api<{ reviews: Review[]; open: number; overdue: number }>('/v1/exigency-reviews');
  list.dataset.open = String(open);
  list.dataset.overdue = String(overdue);
  const waiting = (r: Review): number => (r.state === 'overdue' ? 0 : r.state === 'open' ? 1 : 2);
  const ordered = reviews.slice().sort((a, b) => waiting(a) - waiting(b));
  list.replaceChildren(...(ordered.length ? ordered.map((r) => {
    const error = el('p', { class: 'error', role: 'alert' });
    const item = el('li', { class: `alert review state-${r.state}`, 'data-review-id': r.id, 'data-state': r.state }, [
      el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [`Exigency ${r.reference} · ${r.case_number}`]), el('span', { class: 'alert-status' }, [r.state.replace(/_/g, ' ')])]),
      el('p', {}, [`${r.claimed_by} claimed an emergency (${r.purpose.replace(/_/g, ' ')}) and ran ${r.searches.length} search(es) under it: audit entries ${r.searches.join(', ')}`]),
      el('p', { class: 'meta' }, [r.state === 'open' || r.state === 'overdue' ? `opened ${when(r.opened_at)} · review due ${when(r.due_at)}` : `${r.state.replace(/_/g, ' ')} by ${r.decided_by ?? ''}`]),
    ]);
    if ((r.state === 'open' || r.state === 'overdue') && me.role === 'supervisor') {
      if (r.claimed_by === me.name) {
        item.append(el('p', { class: 'meta' }, ['Another supervisor must review your own claim.']));
      } else {
        const reason = el('input', { 'aria-label': 'Reason', placeholder: 'why the emergency was or was not real' });
        const decide = (upheld: boolean): void => {
          postJson(`/v1/exigency-reviews/${r.id}/decision`, { upheld, reason: reason.value }).then(() => renderReviews(list, me)).catch((e) => { error.textContent = errorMessage(e); });
        };
        const uphold = el('button', { type: 'button', 'data-action': 'uphold' }, ['Uphold (logged)']);
        uphold.addEventListener('click', () => decide(true));
        const reject = el('button', { type: 'button', 'data-action': 'not-upheld' }, ['Not upheld']);
        reject.addEventListener('click', () => decide(false));
        item.append(el('div', { class: 'decide' }, [reason, uphold, reject]));
      }
    }
    item.append(error);
    return item;
  }) : [el('li', { class: 'meta' }, ['No exigency claims.'])]));
}

interface Case { number: string; title: string; opened_by: string; opened_at: string; status: 'open' | 'closed'; closed_by?: string }

/// Cases, newest first, each open one with a close button; above them, a form to open one.
export async function renderCases(list: HTMLElement): Promise<void> {
  const { cases } = await api<{ cases: Case[] }>('/v1/cases');
  list.replaceChildren(...(cases.length ? cases.map((c) => {
    const error = el('p', { class: 'error', role: 'alert' });
    const item = el('li', { class: 'alert case', 'data-case': c.number, 'data-status': c.status }, [
      el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [c.number]), el('span', { class: 'alert-status' }, [c.status])]),
      el('p', {}, [c.title]),
      el('p', { class: 'meta' }, [c.status === 'open' ? `opened by ${c.opened_by} ${when(c.opened_at)}` : `closed by ${c.closed_by ?? ''}`]),
    ]);
    if (c.status === 'open') {
      const close = el('button', { type: 'button', 'data-action': 'close-case' }, ['Close case (no more searches)']);
      close.addEventListener('click', () => {
        api(`/v1/cases/${encodeURIComponent(c.number)}/closing`, { method: 'POST' }).then(() => renderCases(list)).catch((e) => { error.textContent = errorMessage(e); });
      });
      item.append(el('div', { class: 'decide' }, [close]));
    }
    item.append(error);
    return item;
  }) : [el('li', { class: 'meta' }, ['No cases opened yet.'])]));
}

/// Opens a case: searches must name a case the system knows.
export function caseForm(onOpened: () => void): HTMLFormElement {
  const number = el('input', { id: 'case-new-number', required: '', 'aria-label': 'Case number', placeholder: 'e.g. HPD-2026-0050' });
  const title = el('input', { id: 'case-new-title', required: '', 'aria-label': 'What the case is about', placeholder: 'what it is about, in a few words' });
  const error = el('p', { class: 'error', role: 'alert' });
  const form = el('form', { id: 'case-form', class: 'inline-form stacked' }, [
    el('label', { for: 'case-new-number' }, ['Case number']), number, el('label', { for: 'case-new-title' }, ['Title']), title,
    el('button', { type: 'submit' }, ['Open case (logged)']), error,
  ]);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    error.textContent = '';
    postJson('/v1/cases', { case_number: number.value.trim(), title: title.value.trim() }).then(() => { form.reset(); onOpened(); }).catch((err) => { error.textContent = errorMessage(err); });
  });
  return form;
}

/// A datalist of the open cases, for the investigator's case number field.
export async function openCasesList(id: string): Promise<HTMLDataListElement> {
  const { cases } = await api<{ cases: Case[] }>('/v1/cases');
  return el('datalist', { id }, cases.filter((c) => c.status === 'open').map((c) => el('option', { value: c.number }, [c.title])));
}
