// The live map: the city's roads as the basemap, devices with camera fields of view, and alerts.

import * as maplibregl from 'maplibre-gl';
import type { GeoJSONSource, MapMouseEvent } from 'maplibre-gl';
import workerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import 'maplibre-gl/dist/maplibre-gl.css';
import type { Alert, Device, Geofence, LatestReading } from './api';
import { type LonLat, type Sector, sectorContains, sectorRing } from './geo';

maplibregl.setWorkerUrl(workerUrl);

// Okabe–Ito: distinguishable with every common form of colour blindness.
export const PALETTE = {
  road: '#5b6b82', reader: '#0072B2', camera: '#56B4E9', sensor: '#009E73',
  gunshot: '#CC79A7', alert: '#D55E00', result: '#F0E442', background: '#0e1726', geofence: '#E69F00',
  silent: '#6b7280',
};

/// Above this many devices the registry is clustered at low zoom (a demo city's hundred stay single).
const DEVICES_CLUSTER_MIN = 2_000;
/// The zoom from which every device and camera view is drawn singly.
const DEVICES_CLUSTER_MAX_ZOOM = 15;

type Feature = GeoJSON.Feature<GeoJSON.Geometry, Record<string, unknown>>;
const collection = (features: Feature[]): GeoJSON.FeatureCollection => ({ type: 'FeatureCollection', features });

function sectorOf(d: Device): Sector | null {
  if (d.type !== 'camera' || d.lat === undefined || d.lon === undefined) return null;
  return { origin: [d.lon, d.lat], bearing: d.bearing_deg ?? 0, fov: d.fov_deg ?? 60, range: d.range_m ?? 50 };
}

export class LiveMap {
  readonly map: maplibregl.Map;
  private devices: Device[] = [];
  /// Devices with an open `device_silent` alert: drawn grey, so a reader that went quiet stands out.
  private silent = new Set<string>();
  private alerts: Alert[] = [];
  /// Each sensor's newest readings, shown when it is clicked.
  private readings = new Map<string, LatestReading[]>();
  /// Vertices of the polygon being drawn, or null when not drawing.
  private drawing: LonLat[] | null = null;
  /// The last finished polygon's closed ring.
  private drawn: LonLat[] | null = null;
  private readonly ready: Promise<void>;

  /// `styleUrl`: an online style (the deployment's `--map-style`) drawn under the city's roads; if
  /// it cannot be loaded the map falls back to the offline background, never a blank page.
  constructor(container: HTMLElement, basemap: GeoJSON.FeatureCollection, onRendered: () => void, styleUrl?: string | null) {
    const bounds = boundsOf(basemap);
    const offline: maplibregl.StyleSpecification = { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': PALETTE.background } }] };
    this.map = new maplibregl.Map({
      container,
      style: styleUrl ?? offline,
      bounds: bounds ?? undefined,
      center: bounds ? undefined : [24.94, 60.17],
      zoom: bounds ? undefined : 14,
      fitBoundsOptions: { padding: 20 },
      attributionControl: { compact: false, customAttribution: '© OpenStreetMap contributors' },
    });
    this.map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
    this.ready = new Promise((resolve) => {
      this.map.on('load', () => {
        this.addLayers(basemap);
        container.dataset.style = styleUrl ? 'online' : 'offline';
        this.map.once('idle', () => { onRendered(); });
        resolve();
      });
    });
    if (styleUrl) {
      // An unreachable style never fires `load`: fall back to the offline one.
      this.map.once('error', () => { if (!this.map.loaded()) { styleUrl = null; this.map.setStyle(offline); } });
    }
    this.map.on('click', (e) => this.onClick(e));
  }

  private addLayers(basemap: GeoJSON.FeatureCollection): void {
    const m = this.map;
    m.addSource('roads', { type: 'geojson', data: basemap });
    m.addLayer({ id: 'roads', type: 'line', source: 'roads', paint: {
      'line-color': PALETTE.road,
      'line-width': ['match', ['get', 'highway'], ['primary', 'trunk', 'motorway'], 3, ['secondary', 'tertiary'], 2, 1],
    } });
    // Geofences under everything else: an outline with a faint fill, dashed so it reads as a boundary.
    m.addSource('geofences', { type: 'geojson', data: collection([]) });
    m.addLayer({ id: 'geofences', type: 'fill', source: 'geofences', paint: { 'fill-color': PALETTE.geofence, 'fill-opacity': 0.08 } });
    m.addLayer({ id: 'geofence-outline', type: 'line', source: 'geofences', paint: {
      'line-color': PALETTE.geofence, 'line-width': 2, 'line-dasharray': [3, 2],
      'line-opacity': ['case', ['get', 'enabled'], 1, 0.35],
    } });
    m.addSource('fov', { type: 'geojson', data: collection([]) });
    m.addLayer({ id: 'fov', type: 'fill', source: 'fov', paint: { 'fill-color': PALETTE.camera, 'fill-opacity': 0.18 } });
    m.addLayer({ id: 'fov-outline', type: 'line', source: 'fov', paint: { 'line-color': PALETTE.camera, 'line-width': 1 } });
    m.addSource('devices', { type: 'geojson', data: collection([]) });
    m.addLayer({ id: 'devices', type: 'circle', source: 'devices', paint: {
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 12, 3, 17, 7],
      'circle-color': ['case', ['get', 'silent'], PALETTE.silent,
        ['match', ['get', 'type'], 'plate_reader', PALETTE.reader, 'camera', PALETTE.camera, 'sensor', PALETTE.sensor, 'gunshot_array', PALETTE.gunshot, '#999']],
      'circle-stroke-color': ['case', ['get', 'silent'], PALETTE.alert, '#fff'],
      'circle-stroke-width': ['case', ['get', 'silent'], 2, 1],
    } });
    // The investigator's drawn search area: vertices as they are placed, and the closed polygon.
    m.addSource('drawing', { type: 'geojson', data: collection([]) });
    m.addLayer({ id: 'drawing-fill', type: 'fill', source: 'drawing', filter: ['==', ['geometry-type'], 'Polygon'], paint: { 'fill-color': PALETTE.result, 'fill-opacity': 0.12 } });
    m.addLayer({ id: 'drawing-line', type: 'line', source: 'drawing', paint: { 'line-color': PALETTE.result, 'line-width': 2 } });
    m.addLayer({ id: 'drawing-points', type: 'circle', source: 'drawing', filter: ['==', ['geometry-type'], 'Point'], paint: { 'circle-radius': 4, 'circle-color': PALETTE.result } });
    m.addSource('results', { type: 'geojson', data: collection([]) });
    m.addLayer({ id: 'results', type: 'circle', source: 'results', paint: {
      'circle-radius': 6, 'circle-color': PALETTE.result, 'circle-stroke-color': '#000', 'circle-stroke-width': 1,
    } });
    // Alerts cluster at low zoom so a busy shift stays readable.
    m.addSource('alerts', { type: 'geojson', data: collection([]), cluster: true, clusterRadius: 30, clusterMaxZoom: 15 });
    m.addLayer({ id: 'alert-clusters', type: 'circle', source: 'alerts', filter: ['has', 'point_count'], paint: {
      'circle-color': PALETTE.alert, 'circle-opacity': 0.8,
      'circle-radius': ['step', ['get', 'point_count'], 10, 10, 14, 50, 18],
      'circle-stroke-color': '#fff', 'circle-stroke-width': 2,
    } });
    m.addLayer({ id: 'alerts', type: 'circle', source: 'alerts', filter: ['!', ['has', 'point_count']], paint: {
      'circle-radius': 8, 'circle-color': PALETTE.alert, 'circle-stroke-color': '#fff', 'circle-stroke-width': 2,
    } });
  }

  /// Marks the devices that have gone quiet (an open `device_silent` alert each).
  async setSilent(silent: Set<string>): Promise<void> {
    const same = silent.size === this.silent.size && [...silent].every((id) => this.silent.has(id));
    if (same) return;
    this.silent = silent;
    document.body.dataset.silentDevices = [...silent].sort().join(' ');
    await this.setDevices(this.devices);
  }

  async setDevices(devices: Device[]): Promise<void> {
    await this.ready;
    this.devices = devices;
    const points: Feature[] = devices.filter((d) => d.lat !== undefined && d.lon !== undefined).map((d) => ({
      type: 'Feature', properties: { id: d.id, type: d.type, name: d.name ?? d.id, silent: this.silent.has(d.id) },
      geometry: { type: 'Point', coordinates: [d.lon as number, d.lat as number] },
    }));
    const sectors: Feature[] = devices.flatMap((d) => {
      const s = sectorOf(d);
      return s ? [{ type: 'Feature', properties: { id: d.id }, geometry: { type: 'Polygon', coordinates: [sectorRing(s)] } } as Feature] : [];
    });
    if (points.length > DEVICES_CLUSTER_MIN) this.clusterDevices();
    (this.map.getSource('devices') as GeoJSONSource).setData(collection(points));
    (this.map.getSource('fov') as GeoJSONSource).setData(collection(sectors));
  }

  /// A city-wide registry (thousands of devices) is drawn as clusters until zoomed in, and camera
  /// fields of view only close up: with software rendering, 10k points and 3k sectors redrawn on
  /// every alert took about a second a frame (bench/console-frames.mjs).
  private clusterDevices(): void {
    const m = this.map;
    const source = m.getSource('devices');
    if (m.getLayer('device-clusters')) return;
    const paint = m.getLayer('devices') ? {
      'circle-radius': m.getPaintProperty('devices', 'circle-radius'),
      'circle-color': m.getPaintProperty('devices', 'circle-color'),
      'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
    } : {};
    if (source) { m.removeLayer('devices'); m.removeSource('devices'); }
    m.addSource('devices', { type: 'geojson', data: collection([]), cluster: true, clusterRadius: 24, clusterMaxZoom: DEVICES_CLUSTER_MAX_ZOOM });
    m.addLayer({ id: 'device-clusters', type: 'circle', source: 'devices', filter: ['has', 'point_count'], paint: {
      'circle-color': PALETTE.reader, 'circle-opacity': 0.55,
      'circle-radius': ['step', ['get', 'point_count'], 6, 20, 9, 100, 13],
      'circle-stroke-color': '#fff', 'circle-stroke-width': 1,
    } }, 'drawing-fill');
    m.addLayer({ id: 'devices', type: 'circle', source: 'devices', filter: ['!', ['has', 'point_count']], paint: paint as maplibregl.CircleLayerSpecification['paint'] }, 'drawing-fill');
    m.setLayerZoomRange('fov', DEVICES_CLUSTER_MAX_ZOOM + 1, 24);
    m.setLayerZoomRange('fov-outline', DEVICES_CLUSTER_MAX_ZOOM + 1, 24);
  }

  /// The sensors' newest readings (from `/v1/sensors/latest`).
  setReadings(readings: LatestReading[]): void {
    this.readings = new Map();
    for (const r of readings) this.readings.set(r.device_id, [...(this.readings.get(r.device_id) ?? []), r]);
  }

  async setGeofences(fences: Geofence[]): Promise<void> {
    await this.ready;
    const features: Feature[] = fences.map((f) => ({
      type: 'Feature', properties: { id: f.id, name: f.name, enabled: f.enabled, triggers: f.triggers.join(', ') }, geometry: f.area,
    }));
    (this.map.getSource('geofences') as GeoJSONSource).setData(collection(features));
  }

  async setAlerts(alerts: Alert[]): Promise<void> {
    await this.ready;
    this.alerts = alerts;
    const features: Feature[] = alerts.map((a) => ({
      type: 'Feature', properties: { id: a.id, plate: a.plate ?? '', rule: a.rule },
      geometry: { type: 'Point', coordinates: [a.lon, a.lat] },
    }));
    (this.map.getSource('alerts') as GeoJSONSource).setData(collection(features));
  }

  async setResults(points: LonLat[]): Promise<void> {
    await this.ready;
    const features: Feature[] = points.map((p) => ({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: p } }));
    (this.map.getSource('results') as GeoJSONSource).setData(collection(features));
  }

  /// Starts drawing a polygon: each click on the map adds a vertex (instead of the point popup).
  startDrawing(): void {
    this.drawing = [];
    this.map.getCanvas().style.cursor = 'crosshair';
    this.showDrawing();
  }

  /// Ends drawing; returns the closed ring, or null with fewer than three vertices.
  finishDrawing(): LonLat[] | null {
    const ring = this.drawing;
    this.drawing = null;
    this.map.getCanvas().style.cursor = '';
    if (!ring || ring.length < 3) { this.drawn = null; this.showDrawing(); return null; }
    this.drawn = [...ring, ring[0]];
    this.showDrawing();
    return this.drawn;
  }

  /// Removes the drawn area.
  clearDrawing(): void {
    this.drawing = null;
    this.drawn = null;
    this.map.getCanvas().style.cursor = '';
    this.showDrawing();
  }

  /// Vertices placed so far while drawing (0 when not drawing).
  drawingVertices(): number {
    return this.drawing?.length ?? 0;
  }

  private showDrawing(): void {
    const features: Feature[] = [];
    const open = this.drawing ?? [];
    for (const p of open) features.push({ type: 'Feature', properties: {}, geometry: { type: 'Point', coordinates: p } });
    if (open.length >= 2) features.push({ type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: open } });
    if (this.drawn) features.push({ type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [this.drawn] } });
    (this.map.getSource('drawing') as GeoJSONSource | undefined)?.setData(collection(features));
  }

  flyTo(alert: Alert): void {
    this.map.flyTo({ center: [alert.lon, alert.lat], zoom: Math.max(this.map.getZoom(), 16) });
  }

  camerasCovering(point: LonLat): Device[] {
    return this.devices.filter((d) => { const s = sectorOf(d); return s !== null && sectorContains(s, point); });
  }

  private onClick(e: MapMouseEvent): void {
    if (this.drawing) {
      this.drawing.push([Number(e.lngLat.lng.toFixed(6)), Number(e.lngLat.lat.toFixed(6))]);
      this.showDrawing();
      this.map.getContainer().dataset.vertices = String(this.drawing.length);
      return;
    }
    const hits = this.map.queryRenderedFeatures(e.point, { layers: ['devices', 'alerts', 'geofences'] });
    const point: LonLat = [e.lngLat.lng, e.lngLat.lat];
    const popup = document.createElement('div');
    popup.className = 'popup';
    const device = hits.find((f) => f.layer.id === 'devices');
    const alert = hits.find((f) => f.layer.id === 'alerts');
    const fence = hits.find((f) => f.layer.id === 'geofences');
    if (alert) {
      const a = this.alerts.find((x) => x.id === alert.properties.id);
      popup.append(line('strong', `Alert: ${a?.rule ?? ''} ${a?.plate ?? ''}`), line('span', a ? `${a.device_id}, ${new Date(a.observed_at).toLocaleString()}` : ''));
    } else if (device) {
      const d = this.devices.find((x) => x.id === device.properties.id);
      popup.append(line('strong', d?.name ?? String(device.properties.id)), line('span', `${d?.id} · ${d?.type.replace('_', ' ')}`));
      const s = d ? sectorOf(d) : null;
      if (s) popup.append(line('span', `faces ${s.bearing}°, sees ${s.fov}° out to ${s.range} m (shaded)`));
      for (const r of (d ? this.readings.get(d.id) : undefined) ?? []) {
        popup.append(line('span', `${r.quantity.replace(/_/g, ' ')}: ${r.value} ${r.unit} at ${new Date(r.observed_at).toLocaleTimeString()}`));
      }
    } else {
      const cameras = this.camerasCovering(point);
      popup.append(line('strong', cameras.length ? `${cameras.length} camera(s) can see this point` : 'No camera can see this point'));
      for (const c of cameras) popup.append(line('span', `${c.id} — ${c.name ?? ''}`));
      if (fence) popup.append(line('span', `Inside geofence “${fence.properties.name}” (reports ${fence.properties.triggers})`));
    }
    new maplibregl.Popup({ closeButton: true }).setLngLat(e.lngLat).setDOMContent(popup).addTo(this.map);
  }
}

function line(tag: 'strong' | 'span', text: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

function boundsOf(fc: GeoJSON.FeatureCollection): [number, number, number, number] | null {
  let b: [number, number, number, number] | null = null;
  for (const f of fc.features) {
    if (f.geometry.type !== 'LineString') continue;
    for (const [lon, lat] of f.geometry.coordinates) {
      b = b ? [Math.min(b[0], lon), Math.min(b[1], lat), Math.max(b[2], lon), Math.max(b[3], lat)] : [lon, lat, lon, lat];
    }
  }
  return b;
}

export function legend(): HTMLElement {
  const el = document.createElement('div');
  el.className = 'legend';
  el.setAttribute('aria-label', 'Map legend');
  const items: [string, string][] = [
    [PALETTE.reader, 'Plate reader'], [PALETTE.camera, 'Camera (shaded: field of view)'],
    [PALETTE.sensor, 'Sensor (click: latest reading)'], [PALETTE.gunshot, 'Gunshot array'], [PALETTE.alert, 'Alert'],
    [PALETTE.geofence, 'Geofence (dashed)'], [PALETTE.silent, 'Device gone silent'],
  ];
  for (const [colour, label] of items) {
    const row = document.createElement('div');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colour;
    row.append(swatch, document.createTextNode(label));
    el.append(row);
  }
  const credit = document.createElement('div');
  credit.className = 'credit';
  credit.textContent = 'Roads © OpenStreetMap contributors (ODbL)';
  el.append(credit);
  return el;
}
