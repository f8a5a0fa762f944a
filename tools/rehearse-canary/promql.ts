// Time-scaling a PromQL query for the rehearsal: every duration in a range selector, subquery or offset
// (`[1m]`, `[5m:30s]`, `offset 5m`) is divided by the time scale, so a query reads the same number of
// scrapes as in production while the rehearsal's clock runs faster. A per-second rate over that shorter
// window is timeScale times the production service's rate for the same requests, so every rate() and
// irate() is divided by the time scale too: the query's values stay in production units, and a per-second
// threshold (min-request-rate) asks for the same number of requests per window as in production. Ratios and
// quantiles of rates are unchanged by it. Everything is found by the PromQL grammar
// (@prometheus-io/lezer-promql), not by pattern, so a label value like "1m" is left alone.
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
  /** Each rewritten duration and per-second rate, production -> rehearsal, for the report. */
  rewrites: { from: string; to: string }[];
}

/** The functions whose value is per second of the rehearsal's clock. */
const PER_SECOND_FUNCTIONS = new Set(['Rate', 'Irate']);

/**
 * Divides every duration of `query` by `timeScale`, never going below `minimumRangeMs` for a range
 * (rate() needs at least two samples in its window), and every rate()/irate() value by `timeScale`.
 * Throws if the query does not parse.
 */
export function scaleQueryDurations(query: string, timeScale: number, minimumRangeMs: number): ScaledQuery {
  const tree = parser.parse(query);
  const durations: { from: number; to: number; text: string }[] = [];
  const perSecondCalls: { from: number; to: number; name: string }[] = [];
  let syntaxError: number | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError && syntaxError === undefined) syntaxError = node.from;
      if (node.name === 'NumberDurationLiteralInDurationContext') {
        durations.push({ from: node.from, to: node.to, text: query.slice(node.from, node.to) });
      }
      if (node.name === 'FunctionCall') {
        const functionName = node.node.getChild('FunctionIdentifier')?.firstChild?.name;
        if (functionName && PER_SECOND_FUNCTIONS.has(functionName))
          perSecondCalls.push({ from: node.from, to: node.to, name: functionName.toLowerCase() });
      }
    },
  });
  if (syntaxError !== undefined) throw new Error(`PromQL syntax error at offset ${syntaxError} in: ${query}`);
  if (timeScale === 1) return { query, rewrites: [] };
  const scaledDurations = durations.map((duration) => ({
    from: duration.from,
    to: duration.to,
    text: formatPromDuration(Math.max(minimumRangeMs, parsePromDuration(duration.text) / timeScale)),
  }));
  const edits = [
    ...scaledDurations,
    ...perSecondCalls.flatMap((call) => [
      { from: call.from, to: call.from, text: '(' },
      { from: call.to, to: call.to, text: ` / ${timeScale})` },
    ]),
  ];
  let scaled = query;
  // Right to left, so earlier offsets stay valid while the text changes length. Edits never overlap: a call's
  // insertions sit at its ends, outside the durations within it.
  for (const edit of [...edits].sort((a, b) => b.from - a.from || b.to - a.to)) {
    scaled = scaled.slice(0, edit.from) + edit.text + scaled.slice(edit.to);
  }
  const rewrites: ScaledQuery['rewrites'] = [
    ...durations.map((duration, index) => ({ from: duration.text, to: scaledDurations[index].text })),
    ...perSecondCalls.map((call) => ({ from: `${call.name}()`, to: `${call.name}() / ${timeScale}` })),
  ];
  return { query: scaled, rewrites };
}
