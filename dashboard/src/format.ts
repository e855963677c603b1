// Display formats: ages, durations, byte and CPU quantities, counts.
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A compact duration: 45s, 3m12s, 5h4m, 2d3h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 === 0 ? '' : `${s % 60}s`}`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 === 0 ? '' : `${m % 60}m`}`;
  const d = Math.floor(h / 24);
  return `${d}d${h % 24 === 0 ? '' : `${h % 24}h`}`;
}

/** Age of an RFC 3339 time at `now`; '—' when absent or unparsable. */
export function formatAge(time: string | undefined, now: number): string {
  const at = time === undefined ? NaN : Date.parse(time);
  return Number.isNaN(at) ? '—' : formatDuration(now - at);
}

export function formatTime(time: string | undefined): string {
  if (time === undefined) return '—';
  const at = new Date(time);
  return Number.isNaN(at.getTime()) ? time : at.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

export function formatCpu(millis: number): string {
  return millis % 1000 === 0 ? `${millis / 1000}` : `${(millis / 1000).toFixed(2).replace(/0$/, '')}`;
}
