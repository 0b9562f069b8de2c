// RFC 6962 / 9162 Merkle verification in the browser, with WebCrypto. It mirrors the audit crate's
// merkle module so an auditor's browser checks the server's proofs instead of trusting them.

export type Hash = Uint8Array;

async function sha256(...parts: Uint8Array[]): Promise<Hash> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const buffer = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { buffer.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buffer));
}

export const leafHash = (entry: Uint8Array): Promise<Hash> => sha256(new Uint8Array([0]), entry);
export const nodeHash = (left: Hash, right: Hash): Promise<Hash> => sha256(new Uint8Array([1]), left, right);

export function equal(a: Hash, b: Hash): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function fromBase64(text: string): Hash {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/// The root of `leaves` (MTH of RFC 6962 §2.1).
export async function root(leaves: Hash[]): Promise<Hash> {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return nodeHash(await root(leaves.slice(0, k)), await root(leaves.slice(k)));
}

/// RFC 9162 §2.1.3.2.
export async function verifyInclusion(index: number, size: number, leaf: Hash, proof: Hash[], expected: Hash): Promise<boolean> {
  if (index >= size) return false;
  let f = index;
  let s = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (s === 0) return false;
    if (f % 2 === 1 || f === s) {
      r = await nodeHash(p, r);
      while (f % 2 === 0 && f !== 0) { f = Math.floor(f / 2); s = Math.floor(s / 2); }
    } else {
      r = await nodeHash(r, p);
    }
    f = Math.floor(f / 2);
    s = Math.floor(s / 2);
  }
  return s === 0 && equal(r, expected);
}

/// RFC 9162 §2.1.4.2.
export async function verifyConsistency(first: number, second: number, firstRoot: Hash, secondRoot: Hash, proof: Hash[]): Promise<boolean> {
  if (first > second) return false;
  if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0;
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : [...proof];
  if (path.length === 0) return false;
  let f = first - 1;
  let s = second - 1;
  while (f % 2 === 1) { f = Math.floor(f / 2); s = Math.floor(s / 2); }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (s === 0) return false;
    if (f % 2 === 1 || f === s) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (f % 2 === 0 && f !== 0) { f = Math.floor(f / 2); s = Math.floor(s / 2); }
    } else {
      sr = await nodeHash(sr, c);
    }
    f = Math.floor(f / 2);
    s = Math.floor(s / 2);
  }
  return equal(fr, firstRoot) && equal(sr, secondRoot) && s === 0;
}

export interface Checkpoint { origin: string; size: number; root: Hash }

/// Checks a C2SP signed note with the published Ed25519 verifier key, using WebCrypto.
export async function openNote(note: string, verifierKey: string): Promise<Checkpoint> {
  const [name, , keyB64] = splitKey(verifierKey);
  const keyBytes = fromBase64(keyB64);
  if (keyBytes[0] !== 1 || keyBytes.length !== 33) throw new Error('the verifier key is not an Ed25519 key');
  const blank = note.indexOf('\n\n');
  if (blank < 0) throw new Error('the checkpoint has no signature block');
  const body = note.slice(0, blank + 1);
  const line = note.slice(blank + 2).split('\n').find((l) => l.startsWith(`\u2014 ${name} `));
  if (!line) throw new Error(`no signature by ${name}`);
  const blob = fromBase64(line.slice(`\u2014 ${name} `.length));
  const key = await crypto.subtle.importKey('raw', keyBytes.slice(1), { name: 'Ed25519' }, false, ['verify']);
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, blob.slice(4), new TextEncoder().encode(body));
  if (!ok) throw new Error('the checkpoint signature does not verify');
  const [origin, size, rootB64] = body.split('\n');
  return { origin, size: Number(size), root: fromBase64(rootB64) };
}

function splitKey(key: string): [string, string, string] {
  const first = key.indexOf('+');
  const second = key.indexOf('+', first + 1);
  return [key.slice(0, first), key.slice(first + 1, second), key.slice(second + 1)];
}
