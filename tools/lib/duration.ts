// Argo Rollouts' DurationString is read with Go's time.ParseDuration: a sequence of decimal numbers each
// with a unit (ns, us, µs, ms, s, m, h), e.g. "30s", "1m30s", "1.5h". No unit is an error (except "0").
const UNIT_MILLISECONDS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

export function parseGoDuration(text: string): number {
  const trimmed = text.trim();
  if (trimmed === '0' || trimmed === '+0' || trimmed === '-0') return 0;
  const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(trimmed);
  if (!match) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  let milliseconds = 0;
  for (const part of trimmed.replace(/^[+-]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    milliseconds += Number(part[1]) * UNIT_MILLISECONDS[part[2]];
  }
  return match[1] === '-' ? -milliseconds : milliseconds;
}

/** Milliseconds as the shortest Go-style duration text: 4000 -> "4s", 1500 -> "1.5s", 250 -> "250ms". */
export function formatDuration(milliseconds: number): string {
  if (milliseconds >= 60_000 && milliseconds % 60_000 === 0) return `${milliseconds / 60_000}m`;
  if (milliseconds >= 1000) return `${Number((milliseconds / 1000).toFixed(3))}s`;
  return `${Math.round(milliseconds)}ms`;
}

/**
 * A duration as Argo Rollouts reads a pause (`intstr.IntOrString`, RolloutPause.DurationSeconds): a number, or
 * a string of digits, is seconds; any other string is a Go duration. Milliseconds.
 */
export function parseArgoDuration(value: number | string): number {
  if (typeof value === 'number') return value * 1000;
  return /^\d+$/.test(value.trim()) ? Number(value) * 1000 : parseGoDuration(value);
}
