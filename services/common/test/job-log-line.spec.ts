import pino from 'pino';
import type { ServiceIdentity } from '../src/config';
import { builtLineLoggerOptions, type JobCompletedLineFields, jobCompletedLogLine } from '../src/logging';

const identity: ServiceIdentity = { app: 'worker', version: '1.2.3' };
const timeField = ',"time":"2026-11-30T12:34:56.789Z"';

/** The line pino writes for a completed job, as the worker wrote it with pino before it built the line itself. */
function pinoLine(fields: JobCompletedLineFields): string {
  const lines: string[] = [];
  const logger = pino(
    { ...builtLineLoggerOptions(identity, 'info'), timestamp: () => timeField },
    { write: (line: string) => lines.push(line) },
  );
  const { jobId, requestId, jobType, attempt, durationMs } = fields;
  logger.info({ jobId, requestId, jobType, attempt, durationMs }, `job ${jobId} completed`);
  expect(lines).toHaveLength(1);
  return lines[0];
}

const job: JobCompletedLineFields = {
  jobId: '4711',
  requestId: '3911a5a2-9eb3-403a-8a70-e293068aa336',
  jobType: 'ping',
  attempt: 1,
  durationMs: 0,
};

const latin1 = Array.from({ length: 256 }, (_, code) => String.fromCharCode(code)).join('');

describe("a completed job's log line", () => {
  it.each([
    ['a ping submitted through the API', job],
    [
      'a job whose producer gave no request id (left out, as pino leaves out undefined)',
      { ...job, requestId: undefined },
    ],
    [
      'an Idempotency-Key as job id, a later attempt',
      { ...job, jobId: 'order-2026.11_30', jobType: 'invoice.total', attempt: 3, durationMs: 1250 },
    ],
    ['quotes, backslashes and control characters', { ...job, jobId: 'a"b\\c', requestId: 'x\ny\tz"' }],
    ['every latin1 character', { ...job, jobId: latin1, requestId: latin1, jobType: latin1 }],
    ['ids over 100 characters', { ...job, jobId: 'j'.repeat(128), requestId: 'r'.repeat(128) }],
  ] as const)('is the line pino writes: %s', (_case, fields) => {
    expect(jobCompletedLogLine(identity, timeField, fields)).toBe(pinoLine(fields));
  });

  it('parses to the fields a log pipeline reads', () => {
    expect(JSON.parse(jobCompletedLogLine(identity, timeField, job))).toEqual({
      level: 'info',
      time: '2026-11-30T12:34:56.789Z',
      app: 'worker',
      jobId: '4711',
      requestId: job.requestId,
      jobType: 'ping',
      attempt: 1,
      durationMs: 0,
      msg: 'job 4711 completed',
    });
  });
});
