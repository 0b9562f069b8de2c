// Boot: sign in with a token, then show the views the caller's role may use.

import './style.css';
import { type Account, type Alert, ApiError, type WhoAmI, type Device, type Geofence, type LatestReading, type Role, SESSION_PREFIX, api, clearToken, getToken, openSession, setToken, streamAlerts } from './api';
import { onShowSituation, renderAlert, sortAlerts } from './alerts';
import { LiveMap, legend } from './map';
import { renderAudit } from './audit';
import { renderInvestigation } from './investigate';
import { renderApprovals } from './approvals';
import { caseForm, renderCases, renderReviews, renderWarrants, warrantForm } from './warrants';
import { renderDashboards } from './dashboard';
import { renderRules } from './rules';
import { renderChanges, renderCustodian, renderHolds } from './changes';
import { renderAdminSections } from './admin';
import { el, typingIn } from './dom';
import { renderHistory } from './history';

const app = document.getElementById('app') as HTMLElement;
const banner = document.getElementById('banner') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const connection = document.getElementById('connection') as HTMLElement;
const signOut = document.getElementById('sign-out') as HTMLButtonElement;

const ALERT_ROLES: Role[] = ['operator', 'supervisor'];
// Roles that may list rules (`GET /v1/rules`), and so see geofences on the map.
const RULE_ROLES: Role[] = ['operator', 'supervisor', 'administrator'];
const MAP_ROLES: Role[] = ['operator', 'supervisor', 'investigator', 'administrator'];
const ALERTS_SHOWN_MAX = 500;
// Open alerts loaded at start, at most: beyond this the queue is no longer something to work through.
const OPEN_ALERTS_MAX = 5_000;
const RENDER_INTERVAL_MS = 200;
const MAP_INTERVAL_MS = 1_000;
const SOUND_KEY = 'glasshouse.sound';

let audio: AudioContext | null = null;

/// A short tone, `times` times; made in the browser, so no sound file and no network.
function chime(times: number): void {
  audio ??= new AudioContext();
  for (let i = 0; i < times; i += 1) {
    const start = audio.currentTime + i * 0.25;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, start);
    gain.gain.exponentialRampToValueAtTime(0.001, start + 0.18);
    tone.connect(gain).connect(audio.destination);
    tone.start(start);
    tone.stop(start + 0.2);
  }
  document.body.dataset.chimes = String(Number(document.body.dataset.chimes ?? 0) + 1);
}

function showError(message: string): void {
  banner.textContent = message;
  banner.hidden = false;
}

function clearError(): void { banner.hidden = true; }

function renderLogin(reason?: string): void {
  who.textContent = '';
  signOut.hidden = true;
  connection.textContent = '';
  const input = el('input', { id: 'token', type: 'password', autocomplete: 'off', 'aria-label': 'API token', placeholder: 'gh_…' });
  const form = el('form', { class: 'login' }, [
    el('h1', {}, ['Sign in']),
    el('p', {}, ['Paste the token you were given. It stays in this browser tab only.']),
    el('label', { for: 'token' }, ['Token']), input,
    el('button', { type: 'submit' }, ['Sign in']),
  ]);
  if (reason) form.append(el('p', { class: 'error' }, [reason]));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    void boot();
  });
  app.replaceChildren(form);
  input.focus();
}

// The second step for an account enrolled for TOTP: its token alone opens nothing, so the code is
// traded for a session token. The account token is held only in this closure, never stored.
function renderCodeStep(accountToken: string, reason?: string): void {
  const input = el('input', {
    id: 'totp-code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}',
    maxlength: '6', 'aria-label': 'Authenticator code', placeholder: '123456',
  });
  const form = el('form', { class: 'login' }, [
    el('h1', {}, ['Second factor']),
    el('p', {}, ['This account signs in with a code from its authenticator app. Enter the six digits it shows now.']),
    el('label', { for: 'totp-code' }, ['Code']), input,
    el('button', { type: 'submit' }, ['Continue']),
  ]);
  if (reason) form.append(el('p', { class: 'error', role: 'alert' }, [reason]));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    openSession(accountToken, input.value.trim())
      .then((session) => { setToken(session); void boot(); })
      .catch((error) => {
        if (error instanceof ApiError && error.field === 'authorization') renderLogin('That token is not valid.');
        else renderCodeStep(accountToken, error instanceof Error ? error.message : String(error));
      });
  });
  app.replaceChildren(form);
  input.focus();
}

async function renderStatus(account: Account): Promise<void> {
  const status = await api<Record<string, number>>('/v1/status');
  const rows = Object.entries(status).map(([k, v]) => el('tr', {}, [el('th', { scope: 'row' }, [k.replace(/_/g, ' ')]), el('td', {}, [String(v)])]));
  app.replaceChildren(el('section', { class: 'status-page' }, [
    el('h1', {}, ['System status']),
    el('p', {}, [`Signed in as ${account.name} (${account.role}). Counts only: this role has no access to raw observations.`]),
    el('table', {}, rows),
  ]));
}

async function renderLive(account: Account): Promise<void> {
  const mapEl = el('div', { id: 'map', class: 'map', role: 'region', 'aria-label': 'Live map' });
  const layout = el('div', { class: 'live' }, [mapEl]);
  const showAlerts = ALERT_ROLES.includes(account.role);
  const list = el('ol', { id: 'alerts', class: 'alert-list', 'aria-live': 'polite' });
  const count = el('span', { id: 'alert-count' }, ['0']);
  // Sound is off until the operator asks for it (browsers also refuse audio before a gesture).
  const sound = el('input', { type: 'checkbox', id: 'alert-sound' });
  sound.checked = localStorage.getItem(SOUND_KEY) === 'on';
  sound.addEventListener('change', () => { localStorage.setItem(SOUND_KEY, sound.checked ? 'on' : 'off'); if (sound.checked) chime(2); });
  const soundLabel = el('label', { for: 'alert-sound', class: 'sound' }, [sound, ' sound']);
  if (showAlerts) {
    layout.append(el('aside', { class: 'queue', 'aria-label': 'Alert queue' }, [
      el('h2', {}, ['Open alerts ', count, soundLabel]), list, renderHistory((a) => live.flyTo(a)),
    ]));
  }
  const investigationPanel = el('aside', { class: 'queue', 'aria-label': 'Investigation' });
  if (account.role === 'investigator') layout.append(investigationPanel);
  const approvalsPanel = el('aside', { class: 'queue', 'aria-label': 'Approval requests' });
  if (account.role === 'supervisor') layout.append(approvalsPanel);
  const rulesPanel = el('aside', { class: 'queue', 'aria-label': 'Rules and alert delivery' });
  if (account.role === 'administrator') layout.append(rulesPanel);
  app.replaceChildren(layout);
  mapEl.append(legend());
  const basemap = await api<GeoJSON.FeatureCollection>('/v1/basemap');
  const { style_url: styleUrl } = await api<{ style_url: string | null }>('/v1/map/style');
  const live = new LiveMap(mapEl, basemap, () => { document.body.dataset.mapReady = 'true'; }, styleUrl);
  const { devices } = await api<{ devices: Device[] }>('/v1/devices');
  await live.setDevices(devices);
  // Sensors' latest values, refreshed while the map is open (shown when a sensor is clicked).
  const readings = async (): Promise<void> => {
    const { readings: latest } = await api<{ readings: LatestReading[] }>('/v1/sensors/latest');
    live.setReadings(latest);
    document.body.dataset.sensorReadings = String(latest.length);
  };
  await readings();
  setInterval(() => { readings().catch(() => undefined); }, 10_000);
  if (RULE_ROLES.includes(account.role)) {
    const { rules } = await api<{ rules: { type: string }[] }>('/v1/rules');
    const fences = rules.filter((r): r is Geofence => r.type === 'geofence');
    await live.setGeofences(fences);
    document.body.dataset.geofences = String(fences.length);
  }
  if (account.role === 'investigator') await renderInvestigation(investigationPanel, live);
  if (account.role === 'supervisor') {
    await renderApprovals(approvalsPanel);
    // The supervisor is the second person for retention and sharing changes and for holds.
    const retention = el('ol', { id: 'retention-changes', class: 'alert-list' });
    const sharing = el('ol', { id: 'sharing-changes', class: 'alert-list' });
    const holds = el('ol', { id: 'holds', class: 'alert-list' });
    // Exigency claims must be reviewed within a day, so they come first.
    const reviews = el('ol', { id: 'exigency-reviews', class: 'alert-list' });
    const warrants = el('ol', { id: 'warrants', class: 'alert-list' });
    const cases = el('ol', { id: 'cases', class: 'alert-list' });
    approvalsPanel.insertBefore(el('section', {}, [el('h2', {}, ['Exigency reviews']), reviews]), approvalsPanel.firstChild);
    approvalsPanel.append(
      el('h2', {}, ['Retention changes']), retention, el('h2', {}, ['Sharing changes']), sharing, el('h2', {}, ['Legal holds']), holds,
      el('h2', {}, ['Warrants']), warrantForm(() => { void renderWarrants(warrants); }), warrants,
      el('h2', {}, ['Cases']), caseForm(() => { void renderCases(cases); }), cases,
    );
    const refresh = async (): Promise<void> => {
      await renderReviews(reviews, account);
      await renderChanges(retention, 'retention', account, true);
      await renderChanges(sharing, 'sharing', account, true);
      await renderHolds(holds, account, true);
      await renderWarrants(warrants);
      await renderCases(cases);
    };
    await refresh();
    setInterval(() => { if (!typingIn(approvalsPanel)) refresh().catch(() => undefined); }, 10_000);
  }
  if (account.role === 'administrator') {
    const refreshRules = await renderRules(rulesPanel, account);
    await renderAdminSections(rulesPanel, account, live, () => {
      void refreshRules();
      void api<{ rules: { type: string }[] }>('/v1/rules').then(({ rules }) => {
        const fences = rules.filter((r): r is Geofence => r.type === 'geofence');
        document.body.dataset.geofences = String(fences.length);
        return live.setGeofences(fences);
      });
    });
  }
  if (!showAlerts) return;

  onShowSituation((points, alert) => { void live.setResults(points); live.flyTo(alert); });
  const alerts = new Map<string, Alert>();
  // Each card is built once per version of its alert and reused while the alert is unchanged, so
  // a new alert neither rebuilds the whole queue nor wipes a half-finished confirm form; bursts are
  // drawn together, at most every RENDER_INTERVAL_MS (measured in bench/console-frames.mjs).
  const cards = new Map<string, { alert: Alert; node: HTMLElement }>();
  let pending = false;
  const draw = (): void => {
    pending = false;
    const sorted = sortAlerts([...alerts.values()]).slice(0, ALERTS_SHOWN_MAX);
    const nodes = sorted.map((a) => {
      const card = cards.get(a.id);
      if (card && card.alert === a) return card.node;
      const node = renderAlert(a, (x) => live.flyTo(x), (x) => { alerts.set(x.id, x); render(); });
      cards.set(a.id, { alert: a, node });
      return node;
    });
    const shown = new Set(sorted.map((a) => a.id));
    for (const id of [...cards.keys()]) if (!shown.has(id)) cards.delete(id);
    // Move only what is out of place (a new alert is one insertion at the top), then drop the rest.
    let cursor = list.firstChild;
    for (const node of nodes) {
      if (node === cursor) { cursor = cursor.nextSibling; continue; }
      list.insertBefore(node, cursor);
    }
    while (cursor) { const next = cursor.nextSibling; cursor.remove(); cursor = next; }
    count.textContent = String([...alerts.values()].filter((a) => a.status === 'new' || a.status === 'acknowledged').length);
    // The map redraws everything it shows when its alert layer changes (about 100 ms a frame with
    // software rendering and a city-wide registry), so its points follow the queue at most once a
    // second; the queue itself stays within RENDER_INTERVAL_MS.
    mapAlerts = sorted;
    const silent = new Set([...alerts.values()].filter((a) => a.rule === 'device_silent' && a.status !== 'closed').map((a) => a.device_id));
    void live.setSilent(silent);
    if (!mapPending) {
      mapPending = true;
      setTimeout(() => { mapPending = false; void live.setAlerts(mapAlerts); }, Math.max(0, MAP_INTERVAL_MS - (Date.now() - mapDrawnAt)));
      mapDrawnAt = Date.now();
    }
  };
  let mapAlerts: Alert[] = [];
  let mapPending = false;
  let mapDrawnAt = 0;
  const render = (): void => {
    if (pending) return;
    pending = true;
    setTimeout(draw, RENDER_INTERVAL_MS);
  };
  // The newest alerts of any status, and every open one however old: an operator starting a shift
  // sees all that still waits, page by page, up to OPEN_ALERTS_MAX.
  const reload = async (): Promise<void> => {
    const { alerts: stored } = await api<{ alerts: Alert[] }>(`/v1/alerts?limit=${ALERTS_SHOWN_MAX}`);
    for (const a of stored) alerts.set(a.id, a);
    let cursor: string | undefined;
    let loaded = 0;
    do {
      const page = await api<{ alerts: Alert[]; next_cursor?: string }>(`/v1/alerts?status=new,acknowledged&limit=${ALERTS_SHOWN_MAX}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      for (const a of page.alerts) alerts.set(a.id, a);
      loaded += page.alerts.length;
      cursor = page.next_cursor;
    } while (cursor && loaded < OPEN_ALERTS_MAX);
    render();
  };
  streamAlerts(
    (a) => {
      // A new alert (not an update of a known one) chimes: twice for the most urgent.
      if (sound.checked && !alerts.has(a.id) && a.status === 'new') {
        chime(a.priority <= 1 ? 2 : 1);
        // The last chimed observations, for tests and for the curious: which alerts made a sound.
        document.body.dataset.chimedFor = [a.observation_id, ...(document.body.dataset.chimedFor ?? '').split(' ').slice(0, 49)].join(' ').trim();
      }
      alerts.set(a.id, a);
      render();
    },
    (state) => {
      connection.textContent = state === 'live' ? '● live' : state === 'refused' ? 'signed out: sign in again' : state;
      connection.dataset.state = state;
    },
    () => { reload().catch((e) => showError(String(e))); },
    signedOut.signal,
  );
}

/// Why the last session ended, shown on the sign-in form after the reload that ends it.
const LOCKED_KEY = 'glasshouse.locked';

/// Locks the console after `minutes` without input (CJIS's session lock): the live streams stop, a
/// session ends on the server, the token leaves the tab, and signing in again is the way back.
function lockWhenIdle(minutes: number): void {
  let last = Date.now();
  const touched = (): void => { last = Date.now(); };
  for (const kind of ['pointerdown', 'pointermove', 'keydown', 'wheel', 'touchstart']) {
    window.addEventListener(kind, touched, { passive: true, capture: true });
  }
  const limit = minutes * 60_000;
  const check = window.setInterval(() => {
    if (Date.now() - last < limit) return;
    window.clearInterval(check);
    const shown = minutes >= 1 ? `${Math.round(minutes)} minute${Math.round(minutes) === 1 ? '' : 's'}` : `${Math.round(minutes * 60)} seconds`;
    sessionStorage.setItem(LOCKED_KEY, `Locked after ${shown} without activity. Sign in again to go on.`);
    endSession();
  }, Math.min(1_000, limit / 4));
}

/// Ends the tab's sign-in: streams stop, a session token is revoked on the server, the page reloads.
function endSession(): void {
  signedOut.abort();
  // A session is ended on the server too; an account token simply leaves the tab.
  const ending = getToken()?.startsWith(SESSION_PREFIX) ? api('/v1/sessions/current', { method: 'DELETE' }).catch(() => undefined) : Promise.resolve();
  void ending.then(() => { clearToken(); location.reload(); });
}

async function boot(): Promise<void> {
  clearError();
  const locked = sessionStorage.getItem(LOCKED_KEY);
  if (locked) sessionStorage.removeItem(LOCKED_KEY);
  if (!getToken()) { renderLogin(locked ?? undefined); return; }
  let account: WhoAmI;
  try {
    account = await api<WhoAmI>('/v1/whoami');
  } catch (e) {
    const token = getToken() ?? '';
    clearToken();
    if (e instanceof ApiError && e.status === 401 && e.field === 'code') { renderCodeStep(token); return; }
    renderLogin(e instanceof ApiError && e.status === 401 ? 'That token is not valid.' : `Cannot reach the server: ${String(e)}`);
    return;
  }
  who.textContent = `${account.name} · ${account.role}`;
  signOut.hidden = false;
  lockWhenIdle(account.console_idle_lock_minutes);
  document.body.dataset.role = account.role;
  app.replaceChildren(el('p', { class: 'loading' }, ['Loading…']));
  try {
    if (account.role === 'auditor') await renderAudit(app);
    else if (account.role === 'analyst') await renderDashboards(app);
    else if (account.role === 'custodian') await renderCustodian(app, account);
    else if (MAP_ROLES.includes(account.role)) await renderLive(account);
    else await renderStatus(account);
  } catch (e) {
    showError(`Could not load the console: ${e instanceof Error ? e.message : String(e)}`);
  }
}

// Aborted at sign-out: live streams stop, and a view still loading never opens one afterwards.
const signedOut = new AbortController();

signOut.addEventListener('click', endSession);
window.addEventListener('unhandledrejection', (e) => showError(String(e.reason)));
void boot();
