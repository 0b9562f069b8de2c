// The supervisor's approval queue: broad searches wait here for a second person's decision.

import { ApiError, api } from './api';
import { el, typingIn } from './dom';

interface Approval {
  id: string; requester: string; requested_at: string; purpose: string; case_number: string; justification: string;
  scope: { kinds: string[]; from: string; to: string; bbox?: number[] }; status: 'pending' | 'approved' | 'denied'; decided_by?: string;
}

export async function renderApprovals(panel: HTMLElement): Promise<void> {
  const list = el('ol', { id: 'approvals', class: 'alert-list' });
  const refresh = async (): Promise<void> => {
    const { approvals } = await api<{ approvals: Approval[] }>('/v1/approvals');
    list.replaceChildren(...approvals.map((a) => {
      const error = el('p', { class: 'error', role: 'alert' });
      const note = el('input', { 'aria-label': 'Decision note', placeholder: 'note (optional)' });
      const decide = (approve: boolean): void => {
        api(`/v1/approvals/${a.id}/decision`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ approve, note: note.value || undefined }) })
          .then(() => refresh())
          .catch((e) => { error.textContent = e instanceof ApiError ? e.message : String(e); });
      };
      const approveButton = el('button', { type: 'button', 'data-action': 'approve' }, ['Approve']);
      approveButton.addEventListener('click', () => decide(true));
      const denyButton = el('button', { type: 'button', 'data-action': 'deny' }, ['Deny']);
      denyButton.addEventListener('click', () => decide(false));
      const scope = `${a.scope.kinds.join(', ') || 'all kinds'} · ${new Date(a.scope.from).toLocaleString()} – ${new Date(a.scope.to).toLocaleString()} · ${a.scope.bbox ? 'an area' : 'the whole city'}`;
      return el('li', { class: `alert approval status-${a.status}`, 'data-approval-id': a.id, 'data-status': a.status }, [
        el('div', { class: 'alert-head' }, [el('span', { class: 'rule' }, [`${a.purpose.replace(/_/g, ' ')} · ${a.case_number}`]), el('span', { class: 'alert-status' }, [a.status])]),
        el('p', {}, [`${a.requester}: “${a.justification}”`]),
        el('p', { class: 'meta' }, [scope]),
        ...(a.status === 'pending' ? [el('div', { class: 'decide' }, [note, approveButton, denyButton])] : [el('p', { class: 'meta' }, [`${a.status} by ${a.decided_by ?? ''}`])]),
        error,
      ]);
    }));
  };
  panel.replaceChildren(el('h2', {}, ['Approval requests']), list);
  await refresh();
  setInterval(() => { if (!typingIn(panel)) refresh().catch(() => undefined); }, 5000);
}
