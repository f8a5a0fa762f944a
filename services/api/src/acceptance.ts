// Canary acceptance and load: the command the Argo Rollouts `job` metric runs inside the cluster during every
// canary (rollouts/acceptance-and-load.yaml), from the api image itself: `node services/api/dist/acceptance.js`.
//
//   - acceptance: a `ping` and an `invoice.total` job submitted through the target (the canary Service) must be
//     completed with the known answer within ACCEPTANCE_TIMEOUT_MS; anything else exits 1, the Job fails, the
//     metric fails and the Rollout aborts;
//   - load: from the first second, a steady open-loop stream of GET /api/status and POST /api/job (ping) at
//     fixed rates for LOAD_DURATION_SECONDS, so the canary's error-rate, latency and (through the shared
//     queue) job-failure metrics always have traffic to judge, whatever the environment's own traffic. The
//     load does not judge: the Prometheus metrics do.
//
// Every request is marked synthetic three ways: the `x-synthetic-traffic` header (the API labels its HTTP
// metrics traffic="synthetic", which the SLO rules leave out), the user agent and a request id starting with
// `canary-acceptance-` (both on the API's request log line and, for jobs, on every worker line).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { InvoiceTotalPayload, InvoiceTotalResult, PingResult } from '@opsforge/common';
import { SYNTHETIC_TRAFFIC_HEADER } from './synthetic-traffic';

const USER_AGENT = 'opsforge-canary-acceptance';
const REQUEST_TIMEOUT_MS = 5000;
/** Past this many unanswered requests a due one is skipped: a stalled canary must not make the load pile up. */
const MAX_IN_FLIGHT = 64;
const POLL_INTERVAL_MS = 250;
/**
 * The acceptance proves the release works; how many errors it answers is the error-rate metric's verdict. Five
 * 5xx in a row happen once in 10^10 submissions at 1% background errors, and once in 3,125 at 20%: with three
 * tries (once in 125) a 20%-error canary failed its acceptance on a submission in about 1.6% of releases, an
 * abort for the right build but by the wrong judge, before the error-rate metric had measured it.
 */
const SUBMIT_ATTEMPTS = 5;

const configSchema = z.object({
  ACCEPTANCE_TARGET_URL: z.url({ protocol: /^https?$/ }),
  ACCEPTANCE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(300_000).default(30_000),
  LOAD_REQUESTS_PER_SECOND: z.coerce.number().min(0).max(100).default(5),
  // Same guard against a mistyped arg as the request rate. The rehearsal (tools/rehearse-canary) runs the
  // command 15 times faster: the worker Rollout's 5 jobs/s is 75/s there, which a cap of 20 refused.
  LOAD_JOBS_PER_SECOND: z.coerce.number().min(0).max(100).default(1),
  LOAD_DURATION_SECONDS: z.coerce.number().min(0).max(3600).default(300),
});
type AcceptanceConfig = z.infer<typeof configSchema>;

// A fixed invoice with an answer worked out by hand: 3 x 19.99 = 59.97, 19% tax 11.39 (rounded half up), 71.36.
const INVOICE: InvoiceTotalPayload = {
  invoiceId: 'CANARY-ACCEPTANCE',
  currency: 'EUR',
  taxRatePercent: 19,
  lines: [{ sku: 'canary-acceptance', quantity: 3, unitPriceCents: 1999 }],
};
const INVOICE_ANSWER: Pick<InvoiceTotalResult, 'subtotalCents' | 'taxCents' | 'totalCents'> = {
  subtotalCents: 5997,
  taxCents: 1139,
  totalCents: 7136,
};

function log(level: 'info' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(
    `${JSON.stringify({ level, time: new Date().toISOString(), app: 'canary-acceptance', ...fields, msg })}\n`,
  );
}

class AcceptanceFailure extends Error {}

interface Answer {
  status: number;
  body: unknown;
}

class CanaryClient {
  private sequence = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly runId: string,
  ) {}

  async request(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    idempotencyKey?: string,
  ): Promise<Answer> {
    this.sequence += 1;
    const response = await fetch(new URL(path, this.baseUrl), {
      method,
      headers: {
        'user-agent': USER_AGENT,
        [SYNTHETIC_TRAFFIC_HEADER]: 'canary-acceptance',
        'x-request-id': `canary-acceptance-${this.runId}-${this.sequence}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: kept as text for the failure message.
    }
    return { status: response.status, body: parsed };
  }
}

/** Submits one job and waits until it is completed; returns its result. Throws AcceptanceFailure otherwise. */
async function completedJob(
  client: CanaryClient,
  type: 'ping' | 'invoice.total',
  payload: unknown,
  key: string,
  deadline: number,
): Promise<unknown> {
  // A healthy release still answers an occasional 5xx (the error-rate metric judges how many): a few tries with
  // the same Idempotency-Key, which creates the job at most once, keep one such answer from failing it.
  let created: Answer = { status: 0, body: 'not sent' };
  for (let attempt = 1; attempt <= SUBMIT_ATTEMPTS && Date.now() < deadline; attempt += 1) {
    try {
      created = await client.request('POST', '/api/job', { type, payload }, key);
    } catch (error) {
      created = { status: 0, body: (error as Error).message };
    }
    if (created.status === 202 || (created.status > 0 && created.status < 500)) break;
    await sleep(POLL_INTERVAL_MS);
  }
  if (created.status !== 202)
    throw new AcceptanceFailure(
      `POST /api/job (${type}) answered ${created.status || 'nothing'}: ${JSON.stringify(created.body)}`,
    );
  let last: Answer = created;
  while (Date.now() < deadline) {
    try {
      last = await client.request('GET', `/api/job/${encodeURIComponent(key)}`);
    } catch (error) {
      last = { status: 0, body: (error as Error).message };
    }
    const state = (last.body as { state?: string } | null)?.state;
    if (last.status === 200 && state === 'completed') return (last.body as { result?: unknown }).result;
    if (last.status === 200 && state === 'failed')
      throw new AcceptanceFailure(`${type} job ${key} failed: ${JSON.stringify(last.body)}`);
    await sleep(POLL_INTERVAL_MS);
  }
  throw new AcceptanceFailure(
    `${type} job ${key} was not completed in time (last answer ${last.status}: ${JSON.stringify(last.body)})`,
  );
}

/** The release works end to end: both job types go through the target API, the queue and a worker. */
async function accept(client: CanaryClient, config: AcceptanceConfig, runId: string): Promise<void> {
  const deadline = Date.now() + config.ACCEPTANCE_TIMEOUT_MS;
  const [ping, invoice] = await Promise.all([
    completedJob(client, 'ping', { note: 'canary acceptance' }, `canary-acceptance-${runId}-ping`, deadline),
    completedJob(client, 'invoice.total', INVOICE, `canary-acceptance-${runId}-invoice`, deadline),
  ]);
  if ((ping as PingResult | undefined)?.pong !== true)
    throw new AcceptanceFailure(`ping completed with ${JSON.stringify(ping)}, not { pong: true }`);
  const totals = invoice as Partial<InvoiceTotalResult> | undefined;
  for (const [field, expected] of Object.entries(INVOICE_ANSWER)) {
    const actual = totals?.[field as keyof typeof INVOICE_ANSWER];
    if (actual !== expected)
      throw new AcceptanceFailure(`invoice.total completed with ${field} ${actual}, expected ${expected}`);
  }
}

interface LoadStats {
  sent: number;
  failed: number;
  skipped: number;
}

/** Open loop at fixed rates: a slow canary does not slow the load down, as it would not slow users down. */
async function holdLoad(
  client: CanaryClient,
  config: AcceptanceConfig,
  stopped: AbortSignal,
): Promise<LoadStats> {
  const stats: LoadStats = { sent: 0, failed: 0, skipped: 0 };
  const inFlight = new Set<Promise<void>>();
  const streams = [
    { rate: config.LOAD_REQUESTS_PER_SECOND, due: 0, send: () => client.request('GET', '/api/status') },
    {
      rate: config.LOAD_JOBS_PER_SECOND,
      due: 0,
      send: () => client.request('POST', '/api/job', { type: 'ping', payload: { note: 'canary load' } }),
    },
  ];
  const startedAt = performance.now();
  const endsAt = startedAt + config.LOAD_DURATION_SECONDS * 1000;
  while (!stopped.aborted && performance.now() < endsAt) {
    const elapsedSeconds = (performance.now() - startedAt) / 1000;
    for (const stream of streams) {
      while (stream.due < Math.floor(elapsedSeconds * stream.rate)) {
        stream.due += 1;
        if (inFlight.size >= MAX_IN_FLIGHT) {
          stats.skipped += 1;
          continue;
        }
        stats.sent += 1;
        const sent: Promise<void> = stream
          .send()
          .then(
            (answer) => {
              if (answer.status >= 500) stats.failed += 1;
            },
            () => {
              stats.failed += 1;
            },
          )
          .finally(() => inFlight.delete(sent));
        inFlight.add(sent);
      }
    }
    await sleep(10);
  }
  await Promise.all(inFlight);
  return stats;
}

async function main(): Promise<number> {
  const parsed = configSchema.safeParse(
    Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')),
  );
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      log('error', `invalid configuration: ${String(issue.path[0])}: ${issue.message}`);
    return 78;
  }
  const config = parsed.data;
  const runId = randomUUID().slice(0, 8);
  const client = new CanaryClient(config.ACCEPTANCE_TARGET_URL, runId);
  // Argo deletes the Job when the analysis ends first (promotion, or another metric failed): stop quietly.
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  log('info', 'canary acceptance and load started', {
    runId,
    target: config.ACCEPTANCE_TARGET_URL,
    ...config,
  });

  const load = holdLoad(client, config, stop.signal);
  try {
    const acceptedAt = performance.now();
    await accept(client, config, runId);
    log('info', 'acceptance passed: ping and invoice.total completed with the right result', {
      runId,
      tookMs: Math.round(performance.now() - acceptedAt),
    });
  } catch (error) {
    stop.abort();
    await load;
    log('error', `acceptance failed: ${(error as Error).message}`, { runId });
    return 1;
  }
  const stats = await load;
  log('info', 'load finished', { runId, ...stats });
  return 0;
}

void main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log('error', `canary acceptance could not run: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
