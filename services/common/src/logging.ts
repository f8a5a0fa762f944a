import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino, { type LoggerOptions } from 'pino';
import type { Params } from 'nestjs-pino';
import type { ServiceIdentity } from './config';

/**
 * JSON logs, one object per line, with the fields docs/architecture.md promises Loki: `level` as a name, `app`,
 * `requestId`, `jobId` on job lines, `msg`. Secrets never reach a line.
 */

export const REQUEST_ID_HEADER = 'x-request-id';

// A client-supplied id ends up in every log line: accept only a bounded, harmless alphabet, otherwise mint one.
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

export function requestIdFrom(headerValue: string | string[] | undefined): string {
  const candidate = Array.isArray(headerValue) ? headerValue[0] : headerValue;
  return candidate !== undefined && ACCEPTABLE_REQUEST_ID.test(candidate) ? candidate : randomUUID();
}

// Exact paths, no wildcards: a wildcard makes pino walk every logged object. Request lines carry no headers at
// all (see the serializers); these cover a header object or a credential that a log call passes explicitly.
const redactedPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'password',
  'redisPassword',
  'REDIS_PASSWORD',
  'err.config.password',
];

/**
 * pino's `isoTime` (`,"time":"<ISO 8601 UTC>"`), formatted once per millisecond instead of once per line: under
 * load dozens of lines share a millisecond, and `new Date().toISOString()` per line was about a twentieth of the
 * API's CPU on `GET /api/status` (docs/benchmarks.md). Same text, same clock.
 */
function isoTimeOncePerMillisecond(): () => string {
  let formattedAt = Number.NaN;
  let field = '';
  return () => {
    const now = Date.now();
    if (now !== formattedAt) {
      formattedAt = now;
      field = `,"time":"${new Date(now).toISOString()}"`;
    }
    return field;
  };
}

function unredactedLoggerOptions(identity: ServiceIdentity, level: string): LoggerOptions {
  return {
    level,
    base: { app: identity.app },
    messageKey: 'msg',
    timestamp: isoTimeOncePerMillisecond(),
    formatters: { level: (label) => ({ level: label }) },
  };
}

function baseLoggerOptions(identity: ServiceIdentity, level: string): LoggerOptions {
  return {
    ...unredactedLoggerOptions(identity, level),
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
}

let stdout: pino.DestinationStream | undefined;
const HAND_OVER_CHARACTERS = 64 * 1024;
const HAND_OVER_AFTER_MS = 100;

/**
 * stdout written asynchronously in chunks of up to 64 KiB, and at least every 100 ms: one write syscall per few
 * hundred lines under load instead of one blocking write per line on the request path. A line still waiting when
 * the process exits is written then, synchronously, so the last line before process.exit (a fatal crash, a bad
 * configuration) is not lost.
 *
 * Lines are gathered here and reach sonic-boom in pieces of 64 KiB, or after 100 ms: sonic-boom measures the UTF-8
 * length of its whole pending chunk (a concatenated string V8 must copy flat first) on every write, and every
 * asynchronous write is a round trip through libuv's thread pool, about 40 µs of process CPU on a VM whatever its
 * size (through sonic-boom, 1.0 to 1.3 µs per 300-byte line when handed over per 4 KiB, 0.45 to 0.6 µs per 64 KiB;
 * docs/benchmarks.md). No line waits longer than 100 ms, as with sonic-boom's own periodic flush.
 */
function logDestination(): pino.DestinationStream {
  if (stdout === undefined) {
    // `destroyed` is sonic-boom's own flag, set once it has been ended; its typings leave it out.
    const sonic: ReturnType<typeof pino.destination> & { readonly destroyed?: boolean } = pino.destination({
      dest: 1,
      sync: false,
      // The batching is done here: sonic-boom writes each piece as it comes (one write in flight at a time,
      // pieces arriving meanwhile joined up to maxWrite).
      minLength: 0,
      maxWrite: 4 * HAND_OVER_CHARACTERS,
    });
    let pending = '';
    let lateHandOver: NodeJS.Timeout | undefined;
    const handOver = () => {
      clearTimeout(lateHandOver);
      lateHandOver = undefined;
      // Destroyed: ended by pino at beforeExit, or stopped after EPIPE (a closed stdout); nothing to write to.
      if (pending === '' || sonic.destroyed) return;
      const lines = pending;
      pending = '';
      sonic.write(lines);
    };
    process.on('exit', () => {
      handOver();
      if (!sonic.destroyed) sonic.flushSync();
    });
    stdout = {
      write: (line: string) => {
        pending += line;
        if (pending.length >= HAND_OVER_CHARACTERS) handOver();
        else lateHandOver ??= setTimeout(handOver, HAND_OVER_AFTER_MS).unref();
      },
    };
  }
  return stdout;
}

/** A plain logger for the moments before Nest runs (bad configuration) and after it stops (crash handlers). */
export function createBootstrapLogger(identity: ServiceIdentity, level = 'info'): pino.Logger {
  return pino(baseLoggerOptions(identity, level), logDestination());
}

// Probes and scrapes arrive every few seconds from kubelet and Prometheus: logging each success would bury
// the lines that matter, so they are logged only when they fail.
const quietWhenHealthy = new Set(['/health', '/ready', '/metrics']);

/**
 * nestjs-pino as the application's logger (Nest's own lines, the services' lines), writing through the same
 * options and destination. Request lines are written by `logEveryRequest` instead of pino-http's middleware:
 * measured on the API, running pino-http as Nest middleware (which needs @fastify/middie on every request, a
 * child logger and three listeners per response) halved throughput before a single line was written.
 */
export function applicationLoggingParams(identity: ServiceIdentity, level: string): Params {
  return {
    forRoutes: [],
    pinoHttp: { ...baseLoggerOptions(identity, level), stream: logDestination() },
  };
}

/** What a request's log line says besides its level, time and app. */
export interface RequestLineFields {
  requestId: string;
  method: string;
  url: string;
  userAgent: string | undefined;
  statusCode: number;
  durationMs: number;
}

type RequestLineLevel = 'info' | 'warn' | 'error';

/**
 * A request's line, byte for byte what a pino logger with `builtLineLoggerOptions` writes for
 * `logger[level]({ requestId, req: { method, url, userAgent }, res: { statusCode }, durationMs }, msg)`: level
 * name, `time` (`timeField` is that logger's timestamp text), the `app` binding, the fields in that order, `msg`;
 * an undefined user agent is left out as JSON.stringify leaves it out. Built directly instead of by pino's
 * generic serialisation (walking the object, a JSON.stringify per nested object), which was about a tenth of the
 * API's CPU on `GET /api/status`. services/common/test/request-log-line.spec.ts holds it to pino's output.
 */
export function requestLogLine(
  identity: Pick<ServiceIdentity, 'app'>,
  level: RequestLineLevel,
  timeField: string,
  fields: RequestLineFields,
): string {
  const { requestId, method, url, userAgent, statusCode, durationMs } = fields;
  const request =
    `"req":{"method":${JSON.stringify(method)},"url":${JSON.stringify(url)}` +
    (userAgent === undefined ? '}' : `,"userAgent":${JSON.stringify(userAgent)}}`);
  return (
    `{"level":"${level}"${timeField},"app":${JSON.stringify(identity.app)},"requestId":${JSON.stringify(requestId)},` +
    `${request},"res":{"statusCode":${statusCode}},"durationMs":${durationMs},` +
    `"msg":${JSON.stringify(`${method} ${url} ${statusCode}`)}}\n`
  );
}

/**
 * The options of the logger whose lines this module builds itself, `requestLogLine` and `jobCompletedLogLine`
 * (the application's, without redaction).
 */
export function builtLineLoggerOptions(identity: ServiceIdentity, level: string): LoggerOptions {
  return unredactedLoggerOptions(identity, level);
}

/** What the built lines need: whether a level is enabled at the configured level, the time field, the output. */
function builtLineOutput(identity: ServiceIdentity, level: string) {
  const options = builtLineLoggerOptions(identity, level);
  // The configured level decides as it does for every other line; this logger itself writes nothing.
  const levels = pino(options, { write: () => undefined });
  return {
    enabled: (lineLevel: pino.Level) => levels.isLevelEnabled(lineLevel),
    time: options.timestamp as () => string,
    destination: logDestination(),
  };
}

/**
 * One JSON line per HTTP request, written when the response has been sent, from Fastify's onResponse hook:
 * the correlation id (Fastify's request id, taken from `x-request-id` or generated), method, URL, user agent,
 * status and duration. 5xx lines are `error`, 4xx `warn`; successful probes and scrapes are not logged.
 *
 * The line is pino's (`requestLogLine`), on the same destination, at the configured level, without redaction:
 * it carries exactly these fields, none of them a redacted path, and pino's redaction copies every logged object
 * it checks (measured 8.6 to 11.8 µs per line with it, 6.8 to 8.1 µs without, on this line).
 */
export function logEveryRequest(fastify: FastifyInstance, identity: ServiceIdentity, level: string): void {
  const { enabled, time, destination } = builtLineOutput(identity, level);
  fastify.addHook('onResponse', (request, reply, done) => {
    const statusCode = reply.statusCode;
    const level: RequestLineLevel | undefined =
      statusCode >= 500
        ? 'error'
        : statusCode >= 400
          ? 'warn'
          : quietWhenHealthy.has(request.url.split('?')[0])
            ? undefined
            : 'info';
    if (level !== undefined && enabled(level)) {
      destination.write(
        requestLogLine(identity, level, time(), {
          requestId: request.id,
          method: request.method,
          url: request.url,
          userAgent: request.headers['user-agent'],
          statusCode,
          durationMs: Math.round(reply.elapsedTime),
        }),
      );
    }
    done();
  });
}

/** What a completed job's log line says besides its level, time and app. */
export interface JobCompletedLineFields {
  jobId: string;
  /** The request that submitted the job (left out when the job's producer gave none). */
  requestId: string | undefined;
  jobType: string;
  attempt: number;
  durationMs: number;
}

/**
 * A completed job's line, byte for byte what a pino logger with `builtLineLoggerOptions` writes for
 * `logger.info({ jobId, requestId, jobType, attempt, durationMs }, `job ${jobId} completed`)`, as the worker wrote
 * it with pino before. Built directly for the same reason as `requestLogLine`: it is the one line a worker
 * writes per job, and pino's generic serialisation of it was about a third of the samples in the worker's
 * processor (docs/benchmarks.md). services/common/test/job-log-line.spec.ts holds it to pino's output.
 */
export function jobCompletedLogLine(
  identity: Pick<ServiceIdentity, 'app'>,
  timeField: string,
  fields: JobCompletedLineFields,
): string {
  const { jobId, requestId, jobType, attempt, durationMs } = fields;
  return (
    `{"level":"info"${timeField},"app":${JSON.stringify(identity.app)},"jobId":${JSON.stringify(jobId)},` +
    (requestId === undefined ? '' : `"requestId":${JSON.stringify(requestId)},`) +
    `"jobType":${JSON.stringify(jobType)},"attempt":${attempt},"durationMs":${durationMs},` +
    `"msg":${JSON.stringify(`job ${jobId} completed`)}}\n`
  );
}

/**
 * The worker's line per completed job (`jobCompletedLogLine`) at `info`, on the application's destination; a
 * function that writes nothing when the configured level leaves `info` out. Failed and retried attempts are
 * rarer and carry an error: they stay with the application's pino logger, redaction and error serialiser included.
 */
export function jobCompletedLogger(
  identity: ServiceIdentity,
  level: string,
): (fields: JobCompletedLineFields) => void {
  const { enabled, time, destination } = builtLineOutput(identity, level);
  if (!enabled('info')) return () => undefined;
  return (fields) => destination.write(jobCompletedLogLine(identity, time(), fields));
}
