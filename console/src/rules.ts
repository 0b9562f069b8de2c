// The administrator's rules panel: every rule with what it has done since start, switched on or off
// here (each switch is audited by the server), and where alerts are delivered outside.

import { type Account, ApiError, api } from './api';
import { proposeRemoval, renderChanges, sharingForm } from './changes';
import { el, typingIn } from './dom';

interface Rule {
  type: 'threshold' | 'geofence' | 'situation' | 'hotlist'; id: string; name: string; enabled: boolean;
  metrics?: { evaluations: number; hits: number };
}
interface SinkStatus { name: string; target: string; origin?: 'deployment' | 'sharing_change'; delivered: number; failed_attempts: number; dead_lettered: number; pending: number; last_error: string | null }

const TYPE_LABELS: Record<Rule['type'], string> = { threshold: 'Sensor threshold', geofence: 'Geofence', situation: 'Situation', hotlist: 'Hotlist' };

export async function renderRules(panel: HTMLElement, me: Account): Promise<() => Promise<void>> {
  const list = el('ol', { id: 'rules', class: 'alert-list' });
  const sinks = el('ol', { id: 'sinks', class: 'alert-list' });
  const refresh = async (): Promise<void> => {
    const { rules } = await api<{ rules: Rule[] }>('/v1/rules');
    list.replaceChildren(...rules.map((r) => {
      const error = el('p', { class: 'error', role: 'alert' });
      const counts = r.metrics ? `${r.metrics.evaluations} evaluated · ${r.metrics.hits} alerts since start` : '';
      const item = el('li', { class: 'alert rule-item', 'data-rule-id': r.id, 'data-enabled': String(r.enabled) }, [
        el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [TYPE_LABELS[r.type] ?? r.type]), el('span', { class: 'alert-status' }, [r.enabled ? 'on' : 'off'])]),
        el('p', {}, [r.name]), el('p', { class: 'meta' }, [counts]),
      ]);
      // Hotlists are managed as lists (entries, expiry), not switched here.
      if (r.type !== 'hotlist') {
        const toggle = el('button', { type: 'button', 'data-action': 'toggle' }, [r.enabled ? 'Switch off (logged)' : 'Switch on (logged)']);
        toggle.addEventListener('click', () => {
          api(`/v1/rules/${encodeURIComponent(r.id)}/enabled`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ enabled: !r.enabled }) })
            .then(() => refresh())
            .catch((e) => { error.textContent = e instanceof ApiError ? e.message : String(e); });
        });
        item.append(toggle);
      }
      item.append(error);
      return item;
    }));
    const { sinks: status } = await api<{ sinks: SinkStatus[] }>('/v1/sinks');
    sinks.replaceChildren(...(status.length ? status.map((s) => {
      const item = el('li', { class: 'alert', 'data-sink': s.name }, [
        el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [s.name]), el('span', { class: 'alert-status' }, [s.pending ? `${s.pending} pending` : 'up to date'])]),
        el('p', { class: 'meta' }, [`${s.target} · ${s.origin === 'sharing_change' ? 'approved sharing change' : 'deployment file'}`]),
        el('p', { class: 'meta' }, [`${s.delivered} delivered · ${s.failed_attempts} failed attempts · ${s.dead_lettered} dead letters`]),
        ...(s.last_error ? [el('p', { class: 'error' }, [s.last_error])] : []),
      ]);
      // Sinks from the deployment's file are changed there; approved ones end by another change.
      if (s.origin === 'sharing_change') {
        const error = el('p', { class: 'error', role: 'alert' });
        const reason = el('input', { 'aria-label': `Reason to stop sharing with ${s.name}`, placeholder: 'why stop, in at least five words' });
        const end = el('button', { type: 'button', 'data-action': 'propose-removal' }, ['Propose ending']);
        end.addEventListener('click', () => {
          proposeRemoval(s.name, reason.value).then(() => renderChanges(proposals, 'sharing', me, true, () => void refresh()))
            .catch((e) => { error.textContent = e instanceof ApiError ? e.message : String(e); });
        });
        item.append(el('div', { class: 'decide' }, [reason, end]), error);
      }
      return item;
    }) : [el('li', { class: 'meta' }, ['No outbound sinks: alerts stay in this system.'])]));
    await renderChanges(proposals, 'sharing', me, true, () => void refresh());
  };
  const proposals = el('ol', { id: 'sharing-changes', class: 'alert-list' });
  const form = sharingForm(() => { void renderChanges(proposals, 'sharing', me, true, () => void refresh()); });
  panel.replaceChildren(
    el('h2', {}, ['Rules']), list, el('h2', {}, ['Alert delivery']), sinks,
    el('h2', {}, ['Share alerts (two people)']), form, proposals,
  );
  await refresh();
  setInterval(() => { if (!typingIn(panel)) refresh().catch(() => undefined); }, 10_000);
  return refresh;
}
