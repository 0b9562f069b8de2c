// The console talks only to the public /v1 API, with the user's bearer token.

const TOKEN_KEY = 'glasshouse.token';

export type Role =
  | 'operator' | 'investigator' | 'supervisor' | 'analyst'
  | 'custodian' | 'auditor' | 'administrator' | 'ingest' | 'metrics';

export interface Account { name: string; role: Role }

/** The caller, and how long the console may sit untouched before it locks. */
export interface WhoAmI extends Account { console_idle_lock_minutes: number }

export interface Device {
  id: string;
  type: 'plate_reader' | 'camera' | 'sensor' | 'gunshot_array' | 'cad';
  lat?: number; lon?: number; mobile?: boolean;
  bearing_deg?: number; fov_deg?: number; range_m?: number; name?: string;
}

export interface HotlistHit {
  plate: string; matched_plate: string; from_candidate: boolean; region?: string;
  hotlist_id: string; hotlist_name: string; entry_plate: string; entry_region?: string;
  reason: string; entry_expires_at: string;
  match_policy?: 'exact' | 'lenient'; distance?: number;
  diffs?: { position: number; read: string | null; listed: string | null; confusable: boolean }[];
  /// `blob:plate=…;vehicle=…` when the reader's crops are stored here.
  image_ref?: string;
  /// The reader's description of the vehicle, each with the classifier's confidence (0..1).
  vehicle?: { attribute: 'make' | 'color' | 'body'; value: string; confidence?: number }[];
}

export interface LatestReading { device_id: string; quantity: string; value: number; unit: string; observed_at: string }

export type AlertStatus = 'new' | 'acknowledged' | 'confirmed' | 'dismissed' | 'closed';

export interface Transition { from: AlertStatus; to: AlertStatus; actor: string; at: string; disposition?: string; visual_check: boolean; source_check: boolean; note?: string }

export interface Alert {
  id: string; rule: string; status: AlertStatus; priority: number; history?: Transition[];
  observed_at: string; raised_at: string; observation_id: string; device_id: string;
  lat: number; lon: number; plate?: string; hotlist_id?: string; hit?: HotlistHit;
  repeats?: { observation_id: string; device_id: string; observed_at: string }[];
  retroactive?: boolean;
  threshold?: { rule_name: string; quantity: string; value: number; unit: string; level: number; trigger: string };
  situation?: { kind: string; label: string; rounds?: number; incident_id?: string };
  geofence?: { rule_id: string; rule_name: string; trigger: 'enter' | 'exit' | 'inside' | 'dwell'; subject: string; since: string; dwell_s?: number };
  silence?: { rule_id: string; rule_name: string; minutes: number; last_heard_at: string };
}

/// A geofence rule as `/v1/rules` lists it.
export interface Geofence {
  type: 'geofence'; id: string; name: string; area: GeoJSON.Polygon | GeoJSON.MultiPolygon;
  triggers: string[]; enabled: boolean; margin_m: number;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly field?: string) { super(message); }
}

export function getToken(): string | null { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(token: string): void { sessionStorage.setItem(TOKEN_KEY, token); }
export function clearToken(): void { sessionStorage.removeItem(TOKEN_KEY); }

/// Session tokens (from a second-factor sign-in) start with this; account tokens with `gh_`.
export const SESSION_PREFIX = 'ghs_';

/// Trades an account token and a current TOTP code for a session token.
export async function openSession(accountToken: string, code: string): Promise<string> {
  const response = await fetch('/v1/sessions', {
    method: 'POST',
    headers: { Authorization: `Bearer ${accountToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ code }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const wait = response.headers.get('Retry-After');
    const message = body?.error ?? `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, wait ? `${message} (about ${wait} s)` : message, body?.field);
  }
  return body.token as string;
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const token = getToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new ApiError(response.status, body?.error ?? `${response.status} ${response.statusText}`, body?.field);
  }
  return body as T;
}

/// An image the API serves behind the bearer token (an <img> cannot send one), as an object URL.
/** POSTs `body` as JSON. */
export function postJson(path: string, body: unknown): Promise<unknown> {
  return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
}

/** What to show for a failed call: the server's message for a refusal, else the error itself. */
export function errorMessage(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

export async function imageUrl(path: string): Promise<string> {
  const token = getToken();
  const response = await fetch(path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!response.ok) {
    const body = await response.json().catch(() => null);
    throw new ApiError(response.status, body?.error ?? `${response.status} ${response.statusText}`, body?.field);
  }
  return URL.createObjectURL(await response.blob());
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'refused';

// EventSource cannot send an Authorization header, so the stream is read with fetch. It reconnects
// with backoff and re-reads the alert list on every (re)connect, so nothing raised while the
// connection was down is missed.
export function streamAlerts(
  onAlert: (alert: Alert) => void,
  onState: (state: StreamState) => void,
  onReconnect: () => void,
  signal: AbortSignal,
): void {
  let delay = 500;
  const run = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        onState('connecting');
        const response = await fetch('/v1/alerts/stream', {
          headers: { Authorization: `Bearer ${getToken() ?? ''}`, Accept: 'text/event-stream' },
          signal,
        });
        if (!response.ok || !response.body) throw new ApiError(response.status, 'alert stream refused');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let boundary: number;
          while ((boundary = buffer.indexOf('\n\n')) >= 0) {
            const chunk = buffer.slice(0, boundary);
            buffer = buffer.slice(boundary + 2);
            const event = /^event: ?(.*)$/m.exec(chunk)?.[1];
            const data = chunk.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
            if (event === 'ready') { delay = 500; onState('live'); onReconnect(); }
            else if (event === 'alert') onAlert(JSON.parse(data) as Alert);
            else if (event === 'lagged') onReconnect();
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        // A token that no longer opens the stream (signed out, revoked) ends it: retrying cannot help.
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) { onState('refused'); return; }
      }
      onState('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  };
  void run();
}
