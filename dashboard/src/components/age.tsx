// A ticking age ("12s ago"), re-rendered on its own so a page does not re-render every second.
import { useNow } from '../hooks.js';
import { formatAge, formatDuration, formatTime } from '../format.js';

/** The age of an RFC 3339 time, e.g. "12s ago" (full time on hover); `—` when absent. */
export function Age({ time, suffix = ' ago' }: { time: string | undefined; suffix?: string }) {
  const now = useNow(1000);
  if (time === undefined) return <span class="muted">—</span>;
  return <span title={formatTime(time)}>{formatAge(time, now) + suffix}</span>;
}

/** Time between `start` and `end` (or now, ticking, while `end` is absent); `—` without a start. */
export function Elapsed({ start, end }: { start: string | undefined; end: string | undefined }) {
  const now = useNow(1000);
  const from = start === undefined ? NaN : Date.parse(start);
  if (Number.isNaN(from)) return <span class="muted">—</span>;
  const to = end === undefined ? now : Date.parse(end);
  return <span>{Number.isNaN(to) ? '—' : formatDuration(to - from)}</span>;
}
