// The auditor's view: the signed checkpoint, the entries, a verify button that checks the log in
// this browser, and the transparency report.

import { api, getToken } from './api';
import { type Hash, equal, fromBase64, leafHash, openNote, root, verifyConsistency, verifyInclusion } from './merkle';
import { el } from './dom';

interface CheckpointReply { size: number; note: string; verifier_key: string }
interface EntryReply { seq: number; leaf_hash: string; entry: string }
interface ProofReply { proof: string[]; root?: string; first_root?: string; second_root?: string }

async function fetchText(path: string): Promise<string> {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${getToken() ?? ''}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.text();
}

// Verifies everything an auditor can check from here: the checkpoint's signature, the root of all
// exported entries against it, every entry's inclusion proof from the server, and the consistency
// proof from the first checkpoint the page saw to the newest.
export async function verifyLog(firstSeen: CheckpointReply, log: (line: string) => void): Promise<boolean> {
  const latest = await api<CheckpointReply>('/v1/audit/checkpoint');
  const checkpoint = await openNote(latest.note, latest.verifier_key);
  log(`signature of checkpoint ${checkpoint.size} verified (Ed25519)`);
  const exported = await fetchText('/v1/audit/export');
  const encoder = new TextEncoder();
  const leaves: Hash[] = [];
  for (const line of exported.split('\n')) {
    if (line.startsWith('{"seq":')) leaves.push(await leafHash(encoder.encode(line)));
  }
  if (leaves.length < checkpoint.size) { log(`log truncated: ${leaves.length} entries, checkpoint covers ${checkpoint.size}`); return false; }
  const recomputed = await root(leaves.slice(0, checkpoint.size));
  if (!equal(recomputed, checkpoint.root)) { log('the entries do not hash to the signed root'); return false; }
  log(`root of ${checkpoint.size} entries recomputed here and matches the signed root`);
  let inclusions = 0;
  for (let i = 0; i < checkpoint.size; i++) {
    const reply = await api<ProofReply>(`/v1/audit/proof/inclusion?index=${i}&size=${checkpoint.size}`);
    if (!(await verifyInclusion(i, checkpoint.size, leaves[i], reply.proof.map(fromBase64), checkpoint.root))) {
      log(`inclusion proof for entry ${i} fails`);
      return false;
    }
    inclusions++;
  }
  log(`${inclusions} inclusion proofs verified`);
  // An older signed checkpoint from the export (about half-way), checked for consistency with the
  // newest: the log between them only grew.
  const notes = exported.split('\n').filter((l) => l.startsWith('{"checkpoint":')).map((l) => (JSON.parse(l) as { checkpoint: string }).checkpoint);
  const older = notes[Math.floor(notes.length / 2)] ?? firstSeen.note;
  if (checkpoint.size > 0) {
    const first = await openNote(older, latest.verifier_key);
    const reply = await api<ProofReply>(`/v1/audit/proof/consistency?first=${first.size}&second=${checkpoint.size}`);
    if (!(await verifyConsistency(first.size, checkpoint.size, first.root, checkpoint.root, reply.proof.map(fromBase64)))) {
      log(`checkpoints ${first.size} and ${checkpoint.size} are not consistent`);
      return false;
    }
    log(`consistency from checkpoint ${first.size} to ${checkpoint.size} verified: the log only grew`);
  }
  return true;
}

/// Entries loaded for the table: the API's largest page.
const ENTRIES_LOADED = 1_000;

export async function renderAudit(app: HTMLElement): Promise<void> {
  const firstSeen = await api<CheckpointReply>('/v1/audit/checkpoint');
  // The newest entries (one page of the API), filtered here by action, account and outcome.
  const from = Math.max(0, firstSeen.size - ENTRIES_LOADED);
  const { entries } = await api<{ entries: EntryReply[] }>(`/v1/audit/entries?from=${from}&limit=${ENTRIES_LOADED}`);
  const parsed = entries.reverse().map((e) => ({ seq: e.seq, ...(JSON.parse(e.entry) as { at: string; actor: string; role: string; action: string; outcome: string; details: unknown }) }));
  const action = el('select', { id: 'filter-action', 'aria-label': 'Action' }, [
    el('option', { value: '' }, ['every action']), ...[...new Set(parsed.map((e) => e.action))].sort().map((a) => el('option', { value: a }, [a])),
  ]);
  const actor = el('input', { id: 'filter-actor', 'aria-label': 'Account', placeholder: 'account contains…' });
  const outcome = el('select', { id: 'filter-outcome', 'aria-label': 'Outcome' }, [
    el('option', { value: '' }, ['every outcome']), ...[...new Set(parsed.map((e) => e.outcome))].sort().map((o) => el('option', { value: o }, [o])),
  ]);
  const body = el('tbody', { id: 'entries' });
  const shown = el('p', { id: 'entries-shown', class: 'meta' });
  const filter = (): void => {
    const rows = parsed
      .filter((e) => (!action.value || e.action === action.value) && (!outcome.value || e.outcome === outcome.value) && e.actor.includes(actor.value.trim()))
      .map((entry) => el('tr', { 'data-action': entry.action }, [
        el('td', {}, [String(entry.seq)]), el('td', {}, [new Date(entry.at).toLocaleString()]), el('td', {}, [`${entry.actor} (${entry.role})`]),
        el('td', {}, [entry.action]), el('td', { class: `outcome-${entry.outcome}` }, [entry.outcome]),
        el('td', { class: 'details' }, [JSON.stringify(entry.details)]),
      ]));
    body.replaceChildren(...rows);
    shown.textContent = `${rows.length} of the newest ${parsed.length} entries`;
  };
  for (const control of [action, outcome]) control.addEventListener('change', filter);
  actor.addEventListener('input', filter);
  filter();
  const output = el('ol', { id: 'verify-log', class: 'verify-log', 'aria-live': 'polite' });
  const result = el('p', { id: 'verify-result', role: 'status' });
  const button = el('button', { type: 'button', id: 'verify' }, ['Verify the log in this browser']);
  button.addEventListener('click', () => {
    output.replaceChildren();
    result.textContent = 'verifying…';
    button.disabled = true;
    verifyLog(firstSeen, (line) => output.append(el('li', {}, [line])))
      .then((ok) => { result.textContent = ok ? 'Verified: the log is intact.' : 'Verification FAILED.'; result.dataset.ok = String(ok); })
      .catch((e) => { result.textContent = `Verification failed: ${e instanceof Error ? e.message : String(e)}`; result.dataset.ok = 'false'; })
      .finally(() => { button.disabled = false; });
  });
  const report = el('iframe', { class: 'report', title: 'Transparency report', sandbox: '' });
  const reportButton = el('button', { type: 'button', id: 'show-report' }, ['Show the transparency report (last 30 days)']);
  reportButton.addEventListener('click', () => {
    fetchText('/v1/reports').then((html) => { report.srcdoc = html; report.hidden = false; }).catch((e) => { result.textContent = String(e); });
  });
  report.hidden = true;
  app.replaceChildren(el('section', { class: 'audit' }, [
    el('h1', {}, ['Audit log']),
    el('p', {}, [`${firstSeen.size} entries. Every privileged action is logged before it takes effect; plates and free text appear only as keyed hashes.`]),
    el('h2', {}, ['Newest signed checkpoint']),
    el('pre', { id: 'checkpoint' }, [firstSeen.note]),
    el('p', { class: 'key' }, ['Verifier key: ', el('code', {}, [firstSeen.verifier_key])]),
    button, result, output,
    el('h2', {}, ['Newest entries']),
    el('div', { class: 'inline-form' }, [action, actor, outcome, shown]),
    el('table', { class: 'entries' }, [
      el('thead', {}, [el('tr', {}, ['seq', 'at', 'who', 'action', 'outcome', 'details'].map((h) => el('th', { scope: 'col' }, [h])))]),
      body,
    ]),
    el('h2', {}, ['Transparency report']),
    reportButton, report,
  ]));
}
