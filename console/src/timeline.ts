// A timeline of observations as inline SVG: one tick per observation at its time, coloured by kind,
// so bursts and gaps show at a glance (investigation results, situations).

interface Timed { id: string; kind: string; device_id: string; observed_at: string }

const KIND_COLOURS: Record<string, string> = {
  plate_read: '#0072B2', incident: '#D55E00', gunshot: '#CC79A7', sensor_reading: '#009E73', video_event: '#56B4E9',
};

/// The results on a timeline: one tick per result at its time, coloured by kind, so bursts and
/// gaps show at a glance. Inline SVG, like the dashboards.
export function renderTimeline(container: HTMLElement, observations: Timed[], marker?: { at: string; label: string }): void {
  const svg = 'http://www.w3.org/2000/svg';
  const times = observations.map((o) => Date.parse(o.observed_at)).filter((t) => Number.isFinite(t));
  container.replaceChildren();
  container.dataset.ticks = String(times.length);
  const markerAt = marker ? Date.parse(marker.at) : NaN;
  if (!times.length && !Number.isFinite(markerAt)) return;
  const ends = Number.isFinite(markerAt) ? [...times, markerAt] : times;
  const [first, last] = [Math.min(...ends), Math.max(...ends)];
  const span = Math.max(last - first, 60_000);
  const chart = document.createElementNS(svg, 'svg');
  chart.setAttribute('viewBox', '0 0 400 56');
  chart.setAttribute('class', 'timeline');
  chart.setAttribute('role', 'img');
  chart.setAttribute('aria-label', `${times.length} results from ${new Date(first).toLocaleString()} to ${new Date(last).toLocaleString()}`);
  const axis = document.createElementNS(svg, 'line');
  Object.entries({ x1: '6', x2: '394', y1: '34', y2: '34', stroke: '#5b6b82' }).forEach(([k, v]) => axis.setAttribute(k, v));
  chart.append(axis);
  for (const o of observations) {
    const x = 6 + ((Date.parse(o.observed_at) - first) / span) * 388;
    const tick = document.createElementNS(svg, 'line');
    Object.entries({ x1: x.toFixed(1), x2: x.toFixed(1), y1: '6', y2: '34', stroke: KIND_COLOURS[o.kind] ?? '#999', 'stroke-width': '1.5', 'data-id': o.id })
      .forEach(([k, v]) => tick.setAttribute(k, v));
    const title = document.createElementNS(svg, 'title');
    title.textContent = `${new Date(o.observed_at).toLocaleString()} · ${o.kind.replace(/_/g, ' ')} · ${o.device_id}`;
    tick.append(title);
    chart.append(tick);
  }
  if (marker && Number.isFinite(markerAt)) {
    // The trigger (a gunshot, an incident): a taller mark the ticks are read against.
    const x = (6 + ((markerAt - first) / span) * 388).toFixed(1);
    const mark = document.createElementNS(svg, 'line');
    Object.entries({ x1: x, x2: x, y1: '0', y2: '40', stroke: '#ffffff', 'stroke-width': '2', 'stroke-dasharray': '3 2', class: 'timeline-marker' })
      .forEach(([k, v]) => mark.setAttribute(k, v));
    const title = document.createElementNS(svg, 'title');
    title.textContent = `${marker.label} · ${new Date(markerAt).toLocaleString()}`;
    mark.append(title);
    chart.append(mark);
  }
  for (const [x, t, anchor] of [[6, first, 'start'], [394, last, 'end']] as const) {
    const label = document.createElementNS(svg, 'text');
    Object.entries({ x: String(x), y: '50', fill: '#9fb0c8', 'font-size': '10', 'text-anchor': anchor }).forEach(([k, v]) => label.setAttribute(k, v));
    label.textContent = new Date(t).toLocaleString();
    chart.append(label);
  }
  container.append(chart);
}

