import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type LoggerOptions } from 'pino';
import { RequestMethod } from '@nestjs/common';
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

export function baseLoggerOptions(identity: ServiceIdentity, level: string): LoggerOptions {
  return {
    level,
    base: { app: identity.app },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
}

let stdout: pino.DestinationStream | undefined;

/**
 * stdout written asynchronously in chunks of at least 4 KiB, and at least every 100 ms: one write syscall per
 * dozen lines under load instead of one blocking write per line on the request path. pino flushes it
 * synchronously on exit, so the last line before process.exit (a fatal crash, a bad configuration) is not lost.
 */
function logDestination(): pino.DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
  return stdout;
}

/** A plain logger for the moments before Nest runs (bad configuration) and after it stops (crash handlers). */
export function createBootstrapLogger(identity: ServiceIdentity, level = 'info'): pino.Logger {
  return pino(baseLoggerOptions(identity, level), logDestination());
}

// Probes and scrapes arrive every few seconds from kubelet and Prometheus: logging each success would bury
// the lines that matter, so they are logged only when they fail.
const quietWhenHealthy = new Set(['/health', '/ready', '/metrics']);

/** nestjs-pino options: one line per HTTP request, written when the response finishes. */
export function httpLoggingParams(identity: ServiceIdentity, level: string): Params {
  return {
    // nestjs-pino's default route `{/*splat}` matches nothing under NestJS 12's Fastify adapter (no request
    // would be logged); `/{*splat}` matches every path, the root and unmatched ones included.
    forRoutes: [{ path: '/{*splat}', method: RequestMethod.ALL }],
    pinoHttp: {
      ...baseLoggerOptions(identity, level),
      stream: logDestination(),
      customAttributeKeys: { responseTime: 'durationMs' },
      // The correlation id goes on the request line itself rather than through a per-request child logger.
      customSuccessObject: (req: IncomingMessage, _res: ServerResponse, line: object) => ({
        requestId: (req as { id?: unknown }).id,
        ...line,
      }),
      customErrorObject: (req: IncomingMessage, _res: ServerResponse, _error: Error, line: object) => ({
        requestId: (req as { id?: unknown }).id,
        ...line,
      }),
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const id = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
        res.setHeader(REQUEST_ID_HEADER, id);
        return id;
      },
      customLogLevel: (req: IncomingMessage, res: ServerResponse, error?: Error) => {
        if (error || res.statusCode >= 500) return 'error';
        if (res.statusCode >= 400) return 'warn';
        return quietWhenHealthy.has((req.url ?? '').split('?')[0]) ? 'silent' : 'info';
      },
      customSuccessMessage: (req: IncomingMessage, res: ServerResponse) =>
        `${req.method} ${req.url} ${res.statusCode}`,
      customErrorMessage: (req: IncomingMessage, res: ServerResponse) =>
        `${req.method} ${req.url} ${res.statusCode}`,
      serializers: {
        req: (req: { method: string; url: string; headers: Record<string, string> }) => ({
          method: req.method,
          url: req.url,
          userAgent: req.headers['user-agent'],
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  };
}
