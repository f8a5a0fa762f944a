// Time-scaling a PromQL query for the rehearsal: every duration in a range selector, subquery or offset
// (`[1m]`, `[5m:30s]`, `offset 5m`) is divided by the time scale, so a query reads the same number of
// scrapes as in production while the rehearsal's clock runs faster. The durations are found by the
// PromQL grammar (@prometheus-io/lezer-promql), not by pattern, so a label value like "1m" is left alone.
import { parser } from '@prometheus-io/lezer-promql';

const UNIT_MILLISECONDS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

export function parsePromDuration(text: string): number {
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const match = /^(\d+)(ms|s|m|h|d|w|y)/.exec(rest);
    if (!match) throw new Error(`not a PromQL duration: ${text}`);
    total += Number(match[1]) * UNIT_MILLISECONDS[match[2]];
    rest = rest.slice(match[0].length);
  }
  return total;
}

/** Whole seconds when possible, else milliseconds: PromQL durations take integers per unit. */
export function formatPromDuration(milliseconds: number): string {
  const rounded = Math.max(1, Math.round(milliseconds));
  return rounded % 1000 === 0 ? `${rounded / 1000}s` : `${rounded}ms`;
}

export interface ScaledQuery {
  query: string;
  /** Each rewritten duration, production -> rehearsal, for the report. */
  rewrites: { from: string; to: string }[];
}

/**
 * Divides every duration of `query` by `timeScale`, never going below `minimumRangeMs` for a range
 * (rate() needs at least two samples in its window). Throws if the query does not parse.
 */
export function scaleQueryDurations(query: string, timeScale: number, minimumRangeMs: number): ScaledQuery {
  const tree = parser.parse(query);
  const durations: { from: number; to: number; text: string }[] = [];
  let syntaxError: number | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError && syntaxError === undefined) syntaxError = node.from;
      if (node.name === 'NumberDurationLiteralInDurationContext') {
        durations.push({ from: node.from, to: node.to, text: query.slice(node.from, node.to) });
      }
    },
  });
  if (syntaxError !== undefined) throw new Error(`PromQL syntax error at offset ${syntaxError} in: ${query}`);
  if (timeScale === 1) return { query, rewrites: [] };
  let scaled = query;
  const rewrites: ScaledQuery['rewrites'] = [];
  // Right to left, so earlier offsets stay valid while the text changes length.
  for (const duration of [...durations].sort((a, b) => b.from - a.from)) {
    const replacement = formatPromDuration(
      Math.max(minimumRangeMs, parsePromDuration(duration.text) / timeScale),
    );
    scaled = scaled.slice(0, duration.from) + replacement + scaled.slice(duration.to);
    rewrites.unshift({ from: duration.text, to: replacement });
  }
  return { query: scaled, rewrites };
}
