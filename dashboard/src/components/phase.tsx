import type { JobPhase } from '../types.js';

export const PHASES: readonly JobPhase[] = ['Pending', 'Scheduled', 'Running', 'Succeeded', 'Failed'];

/** A job's phase as a coloured badge (the colour is also in the text, for screen readers and tests). */
export function PhaseBadge({ phase }: { phase: string | undefined }) {
  const shown = phase ?? 'Unknown';
  return (
    <span class={`badge phase-${shown.toLowerCase()}`} data-testid="phase-badge">
      {shown}
    </span>
  );
}
