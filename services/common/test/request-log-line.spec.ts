import pino from 'pino';
import type { ServiceIdentity } from '../src/config';
import { type RequestLineFields, builtLineLoggerOptions, requestLogLine } from '../src/logging';

const identity: ServiceIdentity = { app: 'api', version: '1.2.3' };
const timeField = ',"time":"2026-11-30T12:34:56.789Z"';

/** The line pino writes for a request, as the request hook wrote it with pino before it built lines itself. */
function pinoLine(level: 'info' | 'warn' | 'error', fields: RequestLineFields): string {
  const lines: string[] = [];
  const logger = pino(
    { ...builtLineLoggerOptions(identity, 'info'), timestamp: () => timeField },
    { write: (line: string) => lines.push(line) },
  );
  const { requestId, method, url, userAgent, statusCode, durationMs } = fields;
  logger[level](
    { requestId, req: { method, url, userAgent }, res: { statusCode }, durationMs },
    `${method} ${url} ${statusCode}`,
  );
  expect(lines).toHaveLength(1);
  return lines[0];
}

const request: RequestLineFields = {
  requestId: '3911a5a2-9eb3-403a-8a70-e293068aa336',
  method: 'GET',
  url: '/api/status',
  userAgent: 'curl/8.5.0',
  statusCode: 200,
  durationMs: 3,
};

// Node hands the URL and header values over as latin1 text, so every character is below U+0100.
const latin1 = Array.from({ length: 256 }, (_, code) => String.fromCharCode(code)).join('');

describe("a request's log line", () => {
  it.each([
    ['a plain GET', 'info', request],
    [
      'no user agent (left out, as JSON.stringify leaves out undefined)',
      'info',
      { ...request, userAgent: undefined },
    ],
    [
      'an accepted job',
      'info',
      { ...request, method: 'POST', url: '/api/job', statusCode: 202, durationMs: 12 },
    ],
    [
      'a 404 with a client-chosen id',
      'warn',
      { ...request, requestId: 'client-chosen-42', url: '/nope', statusCode: 404 },
    ],
    ['a failure', 'error', { ...request, url: '/api/job/7', statusCode: 500, durationMs: 1500 }],
    ['quotes and backslashes', 'info', { ...request, url: '/api/status?q="a\\b"', userAgent: 'ua "x" \\ y' }],
    [
      'every latin1 character',
      'warn',
      { ...request, url: `/api/${latin1}`, userAgent: latin1, statusCode: 400 },
    ],
    ['a URL over 100 characters', 'info', { ...request, url: `/api/job/${'x'.repeat(120)}?a="1"` }],
  ] as const)('is the line pino writes: %s', (_case, level, fields) => {
    expect(requestLogLine(identity, level, timeField, fields)).toBe(pinoLine(level, fields));
  });

  it('parses to the fields a log pipeline reads', () => {
    expect(JSON.parse(requestLogLine(identity, 'info', timeField, request))).toEqual({
      level: 'info',
      time: '2026-11-30T12:34:56.789Z',
      app: 'api',
      requestId: request.requestId,
      req: { method: 'GET', url: '/api/status', userAgent: 'curl/8.5.0' },
      res: { statusCode: 200 },
      durationMs: 3,
      msg: 'GET /api/status 200',
    });
  });
});

describe('the log timestamp', () => {
  afterEach(() => jest.useRealTimers());

  it("is pino's isoTime text for the current millisecond, formatted again when the millisecond changes", () => {
    jest.useFakeTimers({ now: Date.parse('2026-11-30T12:34:56.789Z') });
    const timestamp = builtLineLoggerOptions(identity, 'info').timestamp as () => string;
    expect(timestamp()).toBe(pino.stdTimeFunctions.isoTime());
    expect(timestamp()).toBe(',"time":"2026-11-30T12:34:56.789Z"');
    jest.advanceTimersByTime(1);
    expect(timestamp()).toBe(',"time":"2026-11-30T12:34:56.790Z"');
    expect(timestamp()).toBe(pino.stdTimeFunctions.isoTime());
  });
});
