// Great-circle helpers for drawing camera fields of view and testing coverage in the browser.
// They mirror glasshouse-model's geo module (same formulas), so the map and the engine agree.

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (d: number): number => (d * Math.PI) / 180;
const deg = (r: number): number => (r * 180) / Math.PI;

export type LonLat = [number, number];

export function distanceM([lon1, lat1]: LonLat, [lon2, lat2]: LonLat): number {
  const dlat = rad(lat2 - lat1);
  const dlon = rad(lon2 - lon1);
  const a = Math.sin(dlat / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dlon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(a));
}

export function bearingDeg([lon1, lat1]: LonLat, [lon2, lat2]: LonLat): number {
  const dlon = rad(lon2 - lon1);
  const y = Math.sin(dlon) * Math.cos(rad(lat2));
  const x = Math.cos(rad(lat1)) * Math.sin(rad(lat2)) - Math.sin(rad(lat1)) * Math.cos(rad(lat2)) * Math.cos(dlon);
  return (deg(Math.atan2(y, x)) + 360) % 360;
}

export function destination([lon, lat]: LonLat, bearing: number, distance: number): LonLat {
  const delta = distance / EARTH_RADIUS_M;
  const theta = rad(bearing);
  const lat1 = rad(lat);
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(delta) + Math.cos(lat1) * Math.sin(delta) * Math.cos(theta));
  const lon2 = rad(lon) + Math.atan2(Math.sin(theta) * Math.sin(delta) * Math.cos(lat1), Math.cos(delta) - Math.sin(lat1) * Math.sin(lat2));
  return [deg(lon2), deg(lat2)];
}

export interface Sector { origin: LonLat; bearing: number; fov: number; range: number }

export function sectorRing(s: Sector, steps = 24): LonLat[] {
  const ring: LonLat[] = [];
  const full = s.fov >= 360;
  if (!full) ring.push(s.origin);
  const start = s.bearing - Math.min(s.fov, 360) / 2;
  for (let i = 0; i <= steps; i++) ring.push(destination(s.origin, start + (Math.min(s.fov, 360) * i) / steps, s.range));
  ring.push(ring[0]);
  return ring;
}

export function sectorContains(s: Sector, point: LonLat): boolean {
  const d = distanceM(s.origin, point);
  if (d > s.range) return false;
  if (d < 0.5 || s.fov >= 360) return true;
  const diff = Math.abs(((bearingDeg(s.origin, point) - s.bearing) % 360 + 540) % 360 - 180);
  return diff <= s.fov / 2;
}
