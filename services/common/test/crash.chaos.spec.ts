import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { parseAllDocuments } from 'yaml';
import { JOB_QUEUE_NAME, type JobData } from '../src/job-contract';
import {
  deleteQueueKeys,
  type RunningService,
  type ServiceName,
  sharedRedisUrl,
  startService,
  testQueuePrefix,
  waitFor,
  openQueue,
  PRELOADS,
} from '@opsforge/harness';

/**
 * Crash behaviour of the real built services:
 *
 * - an error thrown while handling one request or one job costs that request (a JSON 500) or that job
 *   attempt (retried, then failed with its reason), never the process;
 * - an error nobody can catch (thrown from a timer, an unhandled rejection) ends the process with a non-zero
 *   exit code and one fatal log line, so the kubelet restarts it, and the crash-loop alert exists to notice
 *   when restarts repeat.
 */

const repositoryRoot = resolve(__dirname, '..', '..', '..');

describe('crash behaviour', () => {
  const prefixes: string[] = [];
  const started: RunningService[] = [];

  afterAll(async () => {
    await Promise.all(started.map((service) => service.stop('SIGKILL')));
    await Promise.all(prefixes.map((prefix) => deleteQueueKeys(sharedRedisUrl(), prefix)));
  });

  /** Each test its own queue, so one test's jobs never reach another test's worker. */
  function newPrefix(): string {
    const prefix = testQueuePrefix('crash');
    prefixes.push(prefix);
    return prefix;
  }

  async function start(
    name: ServiceName,
    prefix: string,
    env: Record<string, string> = {},
  ): Promise<RunningService> {
    const service = await startService(name, {
      env: { REDIS_URL: sharedRedisUrl(), QUEUE_PREFIX: prefix, LOG_LEVEL: 'info', ...env },
    });
    started.push(service);
    return service;
  }

  it('an error thrown in a request handler answers that request 500 and the API keeps serving', async () => {
    const prefix = newPrefix();
    const api = await start('api', prefix);
    // A job hash another producer (or an older release) wrote with a timestamp that is not a number: reading it
    // makes the handler throw a RangeError while formatting `createdAt`, a bug path no validation guards.
    const redis = new Redis(sharedRedisUrl(), { maxRetriesPerRequest: 1 });
    try {
      await redis.hset(`${prefix}:${JOB_QUEUE_NAME}:corrupt-1`, {
        name: 'ping',
        data: '{"payload":{},"requestId":"r"}',
        opts: '{}',
        timestamp: 'not-a-time',
      });
    } finally {
      redis.disconnect();
    }

    const answers = await Promise.all(
      Array.from({ length: 20 }, () => fetch(`${api.url}/api/job/corrupt-1`)),
    );
    const bodies = await Promise.all(
      answers.map((answer) => answer.json() as Promise<{ statusCode?: number; message?: string }>),
    );
    // If this stops being a 500 the corruption no longer reaches a throw: find a new trigger, do not drop the test.
    expect(answers.map((answer) => answer.status)).toEqual(new Array(20).fill(500));
    // The client learns nothing of the internals; the log gets the details, once per failed request.
    expect(bodies.every((body) => body.statusCode === 500 && body.message === 'internal error')).toBe(true);
    await api.waitForLog(
      (line) =>
        line.level === 'error' && typeof line.msg === 'string' && line.msg.includes('Invalid time value'),
    );

    expect(api.process.exitCode).toBeNull();
    expect((await fetch(`${api.url}/health`)).status).toBe(200);
    const accepted = await fetch(`${api.url}/api/job`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"type":"ping","payload":{}}',
    });
    expect(accepted.status).toBe(202);
  });

  it('errors thrown in jobs fail those jobs (retried, then failed with a reason) and the worker keeps running', async () => {
    // Every attempt throws: the chaos knob raises a plain Error inside the processor.
    const prefix = newPrefix();
    const worker = await start('worker', prefix, { CHAOS_JOB_FAILURE_RATIO: '1' });
    const queue = openQueue(sharedRedisUrl(), prefix);
    try {
      const transient = Array.from({ length: 10 }, (_, index) => `throws-${index}`);
      await queue.addBulk(
        transient.map((id) => ({
          name: 'ping',
          data: { payload: {}, requestId: `req-${id}` } satisfies JobData,
          opts: { jobId: id, attempts: 2, backoff: { type: 'fixed', delay: 50 } },
        })),
      );
      // And one that can never succeed: a payload outside the contract, written by something other than the API.
      await queue.add(
        'invoice.total',
        { payload: { invoiceId: 42 }, requestId: 'req-bad' } as unknown as JobData,
        { jobId: 'unrecoverable', attempts: 5 },
      );

      const ids = [...transient, 'unrecoverable'];
      await waitFor(
        'every job to fail for good',
        async () =>
          (await Promise.all(ids.map((id) => queue.getJobState(id)))).every((state) => state === 'failed') ||
          undefined,
        20_000,
        100,
      );
      const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
      expect(jobs.slice(0, -1).map((job) => [job?.attemptsMade, job?.failedReason])).toEqual(
        transient.map(() => [2, 'injected failure (CHAOS_JOB_FAILURE_RATIO)']),
      );
      expect(jobs.at(-1)?.attemptsMade).toBe(1);
      expect(jobs.at(-1)?.failedReason).toMatch(/^invalid payload: payload\.invoiceId/);

      expect(worker.process.exitCode).toBeNull();
      expect((await fetch(`${worker.url}/ready`)).status).toBe(200);
      const metrics = await (await fetch(`${worker.url}/metrics`)).text();
      expect(metrics).toMatch(/^jobs_processed_total\{job_type="ping",outcome="retried"\} 10$/m);
      expect(metrics).toMatch(/^jobs_processed_total\{job_type="ping",outcome="failed"\} 10$/m);
      expect(metrics).toMatch(/^jobs_processed_total\{job_type="invoice\.total",outcome="failed"\} 1$/m);
    } finally {
      await queue.close();
    }
  });

  describe.each<[ServiceName, 'exception' | 'rejection']>([
    ['api', 'exception'],
    ['api', 'rejection'],
    ['worker', 'exception'],
    ['worker', 'rejection'],
  ])('%s, uncaught %s outside any handler', (name, mode) => {
    it('exits non-zero at once with one fatal log line, so the kubelet restarts it', async () => {
      const service = await start(name, newPrefix(), {
        NODE_OPTIONS: `--require ${PRELOADS.uncaughtError}`,
        OPSFORGE_CHAOS_UNCAUGHT: mode,
      });
      const raisedAt = performance.now();
      service.process.kill('SIGWINCH');
      const exit = await Promise.race([
        service.exited,
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 5_000)),
      ]);
      const exitAfterMs = performance.now() - raisedAt;

      expect(exit).toEqual({ code: 1, signal: null });
      expect(exitAfterMs).toBeLessThan(2_000);
      const fatal = service.logs.filter((line) => line.level === 'fatal');
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatchObject({
        app: name,
        msg: expect.stringContaining(
          mode === 'exception'
            ? 'uncaught exception outside any handler'
            : 'unhandled promise rejection outside any handler',
        ),
      });
    });
  });

  it('a crash loop is alerted on, routed to the crashing service team, with a runbook', () => {
    const rulesDirectory = join(repositoryRoot, 'observability', 'prometheus', 'rules');
    const alerts = readdirSync(rulesDirectory)
      .filter((file) => file.endsWith('.yaml'))
      .flatMap((file) =>
        parseAllDocuments(readFileSync(join(rulesDirectory, file), 'utf8')).map((document) =>
          document.toJS(),
        ),
      )
      .flatMap(
        (rule: { spec?: { groups?: { rules?: Record<string, unknown>[] }[] } }) => rule?.spec?.groups ?? [],
      )
      .flatMap((group) => group.rules ?? [])
      .filter(
        (
          rule,
        ): rule is {
          alert: string;
          expr: string;
          labels: Record<string, string>;
          annotations: Record<string, string>;
        } => typeof rule.alert === 'string',
      );
    const crashLoop = alerts.filter(
      (rule) => /CrashLoopBackOff/.test(rule.expr) && /api\|worker/.test(rule.expr),
    );
    expect(crashLoop.map((rule) => rule.alert)).not.toEqual([]);
    for (const rule of crashLoop) {
      // One alert covers both containers, so the team must come from the crashing container (api → API team,
      // worker → worker team), never a fixed value.
      expect(rule.labels.team).toBe('{{ $labels.container }}');
      const runbook = /\/docs\/runbooks\/([^/]+\.md)$/.exec(rule.annotations.runbook_url)?.[1];
      expect(runbook && existsSync(join(repositoryRoot, 'docs', 'runbooks', runbook))).toBe(true);
    }
  });
});
