// Analysts' dashboards: descriptive counts only (no forecasts), drawn as inline SVG so they need
// nothing beyond the server. Every figure comes from the aggregate-only SQL endpoint (each query is
// in the audit log) or from the alert efficacy figures.

import { api } from './api';
import { el } from './dom';

const SVG = 'http://www.w3.org/2000/svg';
// Okabe–Ito, as on the map.
const KIND_COLOURS: Record<string, string> = {
  plate_read: '#0072B2', sensor_reading: '#009E73', gunshot: '#CC79A7', incident: '#D55E00', video_event: '#56B4E9',
};
const KIND_TABLES: [string, string][] = [
  ['plate_read', 'plate_reads'], ['sensor_reading', 'sensor_readings'], ['gunshot', 'gunshots'],
  ['incident', 'incidents'], ['video_event', 'video_events'],
];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

interface SqlAnswer { columns: string[]; rows: unknown[][]; truncated: boolean }
interface RuleStats {
  alerts: number; open: number; confirmed: number; dismissed: number;
  confirmed_share: number | null; dismissed_share: number | null; time_to_acknowledge_secs_median: number | null;
}

const sql = (text: string): Promise<SqlAnswer> => api<SqlAnswer>('/v1/sql', {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sql: text }),
});

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, children: SVGElement[] = []): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  node.append(...children);
  return node;
}

function titled<T extends SVGElement>(node: T, text: string): T {
  node.append(svg('title', {}));
  (node.lastChild as SVGTitleElement).textContent = text;
  return node;
}

/// SQL timestamps come back without a zone; they are UTC.
const hourOf = (value: unknown): number => Date.parse(String(value).replace(' ', 'T') + (String(value).endsWith('Z') ? '' : 'Z'));

function panel(id: string, title: string, note: string, body: Node): HTMLElement {
  return el('section', { class: 'dash-panel', id, 'aria-label': title }, [el('h2', {}, [title]), el('p', { class: 'dash-note' }, [note]), body]);
}

/// The end of the day the charts show: now, or the newest observation if the data end earlier (a
/// replay, or the demo, which runs a day behind the clock).
async function newestHour(): Promise<number> {
  const union = KIND_TABLES.map(([, table]) => `select max(observed_at) as newest from ${table}`).join(' union all ');
  const newest = (await sql(union)).rows.map(([t]) => (t === null ? NaN : hourOf(t))).filter((t) => !Number.isNaN(t));
  const end = Math.min(Date.now(), newest.length ? Math.max(...newest) : Date.now());
  return Math.floor(end / 3_600_000) * 3_600_000;
}

/// One row of hourly bars per kind over the 24 hours up to `end`.
async function hourlyByKind(end: number): Promise<HTMLElement> {
  const start = end - 23 * 3_600_000;
  const union = KIND_TABLES.map(([kind, table]) =>
    `select '${kind}' as kind, date_trunc('hour', observed_at) as hour, count(*) as n from ${table} ` +
    `where observed_at >= to_timestamp_millis(${start}) group by date_trunc('hour', observed_at)`).join(' union all ');
  const answer = await sql(union);
  const counts = new Map<string, number[]>(KIND_TABLES.map(([k]) => [k, new Array(24).fill(0)]));
  for (const [kind, hour, n] of answer.rows) {
    const slot = Math.round((hourOf(hour) - start) / 3_600_000);
    if (slot >= 0 && slot < 24) counts.get(String(kind))![slot] = Number(n);
  }
  const [w, rowH, left] = [720, 46, 110];
  const chart = svg('svg', { viewBox: `0 0 ${w} ${KIND_TABLES.length * rowH + 20}`, role: 'img', 'aria-label': 'Observations per kind per hour' });
  KIND_TABLES.forEach(([kind], row) => {
    const values = counts.get(kind)!;
    const max = Math.max(1, ...values);
    const y0 = row * rowH;
    const label = svg('text', { x: 0, y: y0 + rowH / 2 + 4, class: 'dash-label' });
    label.textContent = `${kind.replace('_', ' ')} (${values.reduce((a, b) => a + b, 0)})`;
    chart.append(label);
    values.forEach((v, i) => {
      const h = (v / max) * (rowH - 10);
      const barW = (w - left) / 24;
      chart.append(titled(svg('rect', {
        x: left + i * barW + 1, y: y0 + rowH - 6 - h, width: barW - 2, height: Math.max(h, v > 0 ? 1 : 0), fill: KIND_COLOURS[kind], 'data-kind': kind,
      }), `${new Date(start + i * 3_600_000).toISOString().slice(11, 16)} UTC: ${v}`));
    });
  });
  const axis = svg('text', { x: left, y: KIND_TABLES.length * rowH + 14, class: 'dash-label' });
  chart.append(axis);
  axis.textContent = `${new Date(start).toISOString().slice(0, 16).replace('T', ' ')} UTC → ${new Date(end + 3_600_000).toISOString().slice(11, 16)}, one bar per hour`;
  return panel('dash-hourly', 'Observations per hour', 'The last 24 hours of data, counts per kind; each row scaled to its own peak.', chart);
}

/// Alerts and their dispositions per rule: how often an alert turned out to be right.
async function efficacy(): Promise<HTMLElement> {
  const { rules } = await api<{ rules: Record<string, RuleStats> }>('/v1/alerts/stats');
  const pct = (x: number | null): string => (x === null ? '—' : `${Math.round(x * 100)}%`);
  const rows = Object.entries(rules).map(([rule, s]) => {
    const bar = svg('svg', { viewBox: '0 0 100 10', width: 100, height: 10, role: 'img', 'aria-label': `${pct(s.confirmed_share)} confirmed` }, [
      svg('rect', { x: 0, y: 0, width: 100, height: 10, fill: '#24324f' }),
      svg('rect', { x: 0, y: 0, width: (s.confirmed_share ?? 0) * 100, height: 10, fill: '#009E73' }),
    ]);
    const ack = s.time_to_acknowledge_secs_median === null ? '—' : `${Math.round(s.time_to_acknowledge_secs_median)} s`;
    return el('tr', { 'data-rule': rule }, [
      el('th', { scope: 'row' }, [rule]), el('td', {}, [String(s.alerts)]), el('td', {}, [String(s.open)]),
      el('td', {}, [pct(s.confirmed_share)]), el('td', {}, [pct(s.dismissed_share)]), el('td', {}, [ack]), el('td', {}, [bar as unknown as Node]),
    ]);
  });
  const table = el('table', { class: 'dash-table' }, [
    el('thead', {}, [el('tr', {}, ['Rule', 'Alerts', 'Open', 'Confirmed', 'Dismissed', 'Median to acknowledge', ''].map((h) => el('th', { scope: 'col' }, [h])))]),
    el('tbody', {}, rows.length ? rows : [el('tr', {}, [el('td', { colspan: '7' }, ['No alerts yet.'])])]),
  ]);
  return panel('dash-efficacy', 'Alerts and efficacy by rule', 'Shares are of the alerts an operator has decided (confirmed or dismissed).', table);
}

/// Hourly mean and peak of the gamma dose rate over the 24 hours up to `end`.
async function sensorSeries(end: number): Promise<HTMLElement> {
  const start = end - 23 * 3_600_000;
  const answer = await sql(
    "select date_trunc('hour', observed_at) as hour, avg(value) as mean, max(value) as peak from sensor_readings " +
    `where quantity = 'gamma_dose_rate' and observed_at >= to_timestamp_millis(${start}) group by date_trunc('hour', observed_at) order by 1`);
  const points = answer.rows.map(([hour, mean, peak]) => ({ t: hourOf(hour), mean: Number(mean), peak: Number(peak) }));
  const [w, h, pad] = [720, 160, 30];
  const chart = svg('svg', { viewBox: `0 0 ${w} ${h + pad}`, role: 'img', 'aria-label': 'Gamma dose rate per hour' });
  if (points.length) {
    const max = Math.max(...points.map((p) => p.peak), 0.001);
    const x = (t: number): number => pad + ((t - start) / (24 * 3_600_000)) * (w - 2 * pad);
    const y = (v: number): number => h - (v / max) * (h - 10);
    for (const [key, colour, label] of [['peak', '#D55E00', 'hourly peak'], ['mean', '#009E73', 'hourly mean']] as const) {
      chart.append(titled(svg('polyline', {
        points: points.map((p) => `${x(p.t)},${y(p[key])}`).join(' '), fill: 'none', stroke: colour, 'stroke-width': 2, 'data-series': key,
      }), label));
      // Dots too: a single hour is a point, not a line.
      for (const p of points) chart.append(titled(svg('circle', { cx: x(p.t), cy: y(p[key]), r: 3, fill: colour }), `${new Date(p.t).toISOString().slice(11, 16)} UTC ${label}: ${p[key].toFixed(3)} µSv/h`));
    }
    const top = svg('text', { x: 0, y: 12, class: 'dash-label' });
    top.textContent = `${max.toFixed(2)} µSv/h`;
    chart.append(top);
  }
  const caption = svg('text', { x: pad, y: h + 20, class: 'dash-label' });
  caption.textContent = points.length ? `${points.length} hours · red: hourly peak · green: hourly mean` : 'No gamma readings in the last 24 hours.';
  chart.append(caption);
  return panel('dash-sensors', 'Gamma dose rate', 'Radiation sensors, all devices together, the last 24 hours of data.', chart);
}

/// Incidents by weekday and hour of day (UTC), over everything stored.
async function incidentHeatmap(): Promise<HTMLElement> {
  const answer = await sql(
    "select extract(dow from observed_at) as dow, extract(hour from observed_at) as hour, count(*) as n from incidents " +
    "group by extract(dow from observed_at), extract(hour from observed_at)");
  const grid = Array.from({ length: 7 }, () => new Array(24).fill(0));
  for (const [dow, hour, n] of answer.rows) grid[Number(dow)][Number(hour)] = Number(n);
  const max = Math.max(1, ...grid.flat());
  const total = grid.flat().reduce((a, b) => a + b, 0);
  const [cell, left, top] = [26, 40, 16];
  const chart = svg('svg', { viewBox: `0 0 ${left + 24 * cell} ${top + 7 * cell}`, role: 'img', 'aria-label': 'Incidents by weekday and hour' });
  for (let hour = 0; hour < 24; hour += 3) {
    const t = svg('text', { x: left + hour * cell, y: 11, class: 'dash-label' });
    t.textContent = `${hour}h`;
    chart.append(t);
  }
  grid.forEach((counts, dow) => {
    const label = svg('text', { x: 0, y: top + dow * cell + cell / 2 + 4, class: 'dash-label' });
    label.textContent = WEEKDAYS[dow];
    chart.append(label);
    counts.forEach((n, hour) => chart.append(titled(svg('rect', {
      x: left + hour * cell, y: top + dow * cell, width: cell - 2, height: cell - 2,
      fill: '#E69F00', 'fill-opacity': n === 0 ? 0.04 : 0.15 + 0.85 * (n / max), 'data-count': n,
    }), `${WEEKDAYS[dow]} ${hour}:00 UTC: ${n}`)));
  });
  return panel('dash-heatmap', 'Incidents by weekday and hour', `${total} incidents stored (Toronto's when loaded), by when they occurred, UTC. Descriptive: no forecast.`, chart);
}

export async function renderDashboards(container: HTMLElement): Promise<void> {
  const page = el('div', { class: 'dashboards' }, [el('h1', {}, ['Dashboards'])]);
  container.replaceChildren(page);
  // One at a time: each SQL query is logged, and the server is shared with the live path.
  let end = Date.now();
  try {
    end = await newestHour();
  } catch (e) {
    page.append(el('p', { class: 'error' }, [`Could not read the data's time span: ${e instanceof Error ? e.message : String(e)}`]));
  }
  for (const build of [() => hourlyByKind(end), efficacy, () => sensorSeries(end), incidentHeatmap]) {
    try {
      page.append(await build());
    } catch (e) {
      page.append(el('p', { class: 'error' }, [`Could not load a dashboard: ${e instanceof Error ? e.message : String(e)}`]));
    }
  }
  document.body.dataset.dashboards = 'ready';
}
