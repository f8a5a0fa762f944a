// The Prometheus metric provider of Argo Rollouts (metricproviders/prometheus/prometheus.go) and the
// measurement verdict (utils/evaluate/evaluate.go):
//
//   - an instant query at "now"; a failed request, a non-success status or a timeout is an Error;
//   - a vector becomes `result` as the list of its sample values (empty when no series matched), a scalar
//     becomes a single number; any other result type is an Error;
//   - with both conditions: failure wins, then success, else Inconclusive; with only a success condition a
//     false one is Failed; with only a failure condition a false one is Successful; with neither, every
//     measurement is Successful;
//   - a condition that does not compile or fails while running makes the measurement Error.
import {
  ConditionCompileError,
  ConditionRuntimeError,
  evaluateCondition,
  type ConditionResult,
} from './expression';
import type { MeasurementOutcome, MetricSpec } from './analysis-run';

/** The default query timeout when the metric sets none (NewPrometheusProvider). */
export const DEFAULT_QUERY_TIMEOUT_SECONDS = 30;

export interface PrometheusMetricProvider {
  address: string;
  query: string;
  timeout?: number;
}

export function prometheusProviderOf(metric: MetricSpec): PrometheusMetricProvider {
  const provider = metric.provider.prometheus as PrometheusMetricProvider | undefined;
  if (!provider || typeof provider.query !== 'string') {
    throw new Error(
      `metric ${metric.name} has no prometheus provider with a query: the rehearsal only runs Prometheus metrics`,
    );
  }
  return provider;
}

/** EvaluateResult: the phase of one measurement given its result. Throws where Argo returns an error. */
export function measurementPhase(
  metric: Pick<MetricSpec, 'successCondition' | 'failureCondition'>,
  result: ConditionResult,
) {
  const success = metric.successCondition ? evaluateCondition(metric.successCondition, result) : false;
  const failure = metric.failureCondition ? evaluateCondition(metric.failureCondition, result) : false;
  if (!metric.successCondition && !metric.failureCondition) return 'Successful' as const;
  const failed = metric.failureCondition ? failure : !success;
  const succeeded = metric.successCondition ? success : !failure;
  if (failed) return 'Failed' as const;
  if (!succeeded) return 'Inconclusive' as const;
  return 'Successful' as const;
}

/** model.SampleValue.String(): Go's FormatFloat(v, 'f', -1, 64), with NaN and ±Inf spelled as Prometheus does. */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toLocaleString('en-US', {
    useGrouping: false,
    maximumFractionDigits: 20,
    maximumSignificantDigits: 17,
  });
}

/** Prometheus' JSON float encoding: strings, with "NaN", "+Inf", "-Inf". */
function parseSampleValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

interface QueryResponse {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: unknown };
}

export interface QueryOptions {
  /** Replaces the template's in-cluster address: the rehearsal's Prometheus listens on loopback. */
  address: string;
  /** Applied to the query text before it is sent (the rehearsal shortens range selectors). */
  rewriteQuery?: (query: string) => string;
}

/** Runs one Prometheus metric measurement the way the provider's Run does. */
export async function measurePrometheusMetric(
  metric: MetricSpec,
  options: QueryOptions,
): Promise<MeasurementOutcome> {
  const provider = prometheusProviderOf(metric);
  const query = options.rewriteQuery ? options.rewriteQuery(provider.query) : provider.query;
  const timeoutSeconds = provider.timeout ?? DEFAULT_QUERY_TIMEOUT_SECONDS;
  const url = new URL('/api/v1/query', options.address);
  let body: QueryResponse;
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query, time: String(Date.now() / 1000) }),
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
    const text = await response.text();
    try {
      body = JSON.parse(text) as QueryResponse;
    } catch {
      return {
        phase: 'Error',
        message: `server returned HTTP status ${response.status}: ${text.slice(0, 200)}`,
      };
    }
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause;
    return { phase: 'Error', message: `Post "${url.href}": ${cause?.message ?? (error as Error).message}` };
  }
  if (body.status !== 'success' || !body.data) {
    return { phase: 'Error', message: `${body.errorType ?? 'error'}: ${body.error ?? 'unknown error'}` };
  }

  let result: ConditionResult;
  let value: string;
  switch (body.data.resultType) {
    case 'vector': {
      const samples = (body.data.result as { value: [number, string] }[]).map((sample) =>
        parseSampleValue(sample.value[1]),
      );
      result = samples;
      value = `[${samples.map(formatSampleValue).join(',')}]`;
      break;
    }
    case 'scalar': {
      result = parseSampleValue((body.data.result as [number, string])[1]);
      value = formatSampleValue(result);
      break;
    }
    default:
      return { phase: 'Error', message: 'Prometheus metric type not supported' };
  }

  try {
    return { phase: measurementPhase(metric, result), value };
  } catch (error) {
    if (error instanceof ConditionCompileError || error instanceof ConditionRuntimeError) {
      return { phase: 'Error', message: error.message };
    }
    throw error;
  }
}
