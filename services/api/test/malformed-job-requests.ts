import fc from 'fast-check';
import { validateJobRequest } from '@opsforge/common/job-contract';

/**
 * Generators of malformed `POST /api/job` requests, one family per way a client (or an attacker) gets it
 * wrong. Every generated request is invalid by construction, and the families that produce well-formed JSON are
 * additionally filtered through the job contract's own validator, so an accidentally valid request can never
 * be generated and then blamed on the service for answering 202.
 */

export type MalformedFamily =
  | 'bad-json'
  | 'wrong-types'
  | 'deep-nesting'
  | 'huge-strings'
  | 'prototype-keys'
  | 'wrong-content-type'
  | 'oversize-body'
  | 'bad-idempotency-key';

export interface MalformedRequest {
  family: MalformedFamily;
  /** Omitted means no Content-Type header at all. */
  contentType?: string;
  headers?: Record<string, string>;
  body: Buffer;
  /** The statuses the contract allows for this family (400 bad input, 413 too large, 415 wrong type). */
  allowedStatuses: number[];
  /** Short description for a failure message; bodies can be 100 KB. */
  summary: string;
}

const JSON_TYPE = 'application/json';

function describe(body: Buffer): string {
  const text = body.toString('utf8');
  return text.length <= 160 ? text : `${text.slice(0, 120)}… (${body.length} bytes)`;
}

function request(
  family: MalformedFamily,
  body: string | Buffer,
  allowedStatuses: number[],
  extra: { contentType?: string | null; headers?: Record<string, string> } = {},
): MalformedRequest {
  const buffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const contentType = extra.contentType === null ? undefined : (extra.contentType ?? JSON_TYPE);
  const headerNote = extra.headers ? ` with headers ${JSON.stringify(extra.headers).slice(0, 160)}` : '';
  const typeNote = ` as ${contentType ?? 'no Content-Type'}`;
  return {
    family,
    contentType,
    headers: extra.headers,
    body: buffer,
    allowedStatuses,
    summary: describe(buffer) + typeNote + headerNote,
  };
}

const validPing = { type: 'ping', payload: { note: 'chaos' } };
const validInvoice = {
  type: 'invoice.total',
  payload: {
    invoiceId: 'inv-1',
    currency: 'EUR',
    taxRatePercent: 20,
    lines: [{ sku: 'sku-1', quantity: 2, unitPriceCents: 1250 }],
  },
};
const validBodies = [validPing, validInvoice].map((body) => JSON.stringify(body));

function isInvalidJson(text: string): boolean {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
}

/** Valid requests cut short, or with a structural character inserted or removed: what a buggy client sends. */
const badJson = fc
  .oneof(
    fc
      .tuple(fc.constantFrom(...validBodies), fc.nat())
      .map(([text, cut]) => text.slice(0, 1 + (cut % (text.length - 1)))),
    fc
      .tuple(
        fc.constantFrom(...validBodies),
        fc.nat(),
        fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', "'", 'NaN', 'undefined'),
      )
      .map(([text, at, noise]) => text.slice(0, at % text.length) + noise + text.slice(at % text.length)),
    fc.string({ maxLength: 200 }),
    fc.constantFrom(
      '',
      ' ',
      'null null',
      '{"type":"ping",}',
      "{'type':'ping'}",
      '{"type":"ping","payload":{}',
      '\u0000',
      '\ufeff{',
    ),
  )
  .filter(isInvalidJson)
  .map((text) => request('bad-json', text, [400]));

/** A field of a valid request replaced by a value of another type, or the whole body not an object. */
const wrongTypes = fc
  .oneof(
    fc.jsonValue().filter((value) => typeof value !== 'object' || value === null || Array.isArray(value)),
    fc.record({ type: fc.jsonValue(), payload: fc.jsonValue() }),
    fc.record({ type: fc.constant('ping'), payload: fc.record({ note: fc.jsonValue() }) }),
    fc.record({ type: fc.constant('ping'), payload: fc.jsonValue() }),
    fc
      .tuple(fc.constantFrom('invoiceId', 'currency', 'taxRatePercent', 'lines'), fc.jsonValue())
      .map(([field, value]) => ({ ...validInvoice, payload: { ...validInvoice.payload, [field]: value } })),
    fc.tuple(fc.constantFrom('sku', 'quantity', 'unitPriceCents'), fc.jsonValue()).map(([field, value]) => ({
      ...validInvoice,
      payload: { ...validInvoice.payload, lines: [{ ...validInvoice.payload.lines[0], [field]: value }] },
    })),
    fc.record({ type: fc.string({ maxLength: 40 }), payload: fc.constant({}) }),
    fc
      .dictionary(fc.string({ maxLength: 12 }), fc.jsonValue(), { minKeys: 1, maxKeys: 4 })
      .map((extra) => ({ ...validPing, ...extra })),
  )
  .filter((body) => !validateJobRequest(body).ok)
  .map((body) => request('wrong-types', JSON.stringify(body), [400]));

/** Tens of thousands of nested arrays/objects: a stack overflow in a parser or validator would answer 500. */
function deepNesting(bodyLimitBytes: number): fc.Arbitrary<MalformedRequest> {
  const maxDepth = Math.floor((bodyLimitBytes - 100) / 6);
  return fc
    .tuple(
      fc.integer({ min: 50, max: maxDepth }),
      fc.constantFrom('array', 'object'),
      fc.constantFrom('top', 'payload', 'note'),
    )
    .map(([depth, shape, where]) => {
      const nested =
        shape === 'array'
          ? '['.repeat(depth) + ']'.repeat(depth)
          : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      const text =
        where === 'top'
          ? nested
          : where === 'payload'
            ? `{"type":"ping","payload":${nested}}`
            : `{"type":"ping","payload":{"note":${nested}}}`;
      return request('deep-nesting', text, [400]);
    });
}

/** Strings far beyond every field's maximum, still under the body limit: validation must reject, not choke. */
function hugeStrings(bodyLimitBytes: number): fc.Arbitrary<MalformedRequest> {
  return fc
    .tuple(
      fc.integer({ min: 1_000, max: bodyLimitBytes - 400 }),
      fc.constantFrom('a', 'é', '\u0000', '"', '\\', '𝄞', '\u202e'),
      fc.constantFrom('type', 'note', 'invoiceId', 'sku', 'currency', 'key'),
    )
    .map(([length, unit, field]) => {
      // Count UTF-8 bytes of the escaped unit so the body stays under the limit.
      const unitBytes = Buffer.byteLength(JSON.stringify(unit)) - 2;
      // At least 300 characters: past the longest string field (200), whatever the unit's escaped size.
      const huge = unit.repeat(Math.max(300, Math.floor(length / unitBytes)));
      const body =
        field === 'type'
          ? { type: huge, payload: {} }
          : field === 'note'
            ? { type: 'ping', payload: { note: huge } }
            : field === 'key'
              ? { ...validPing, [huge]: 1 }
              : field === 'sku'
                ? {
                    ...validInvoice,
                    payload: {
                      ...validInvoice.payload,
                      lines: [{ ...validInvoice.payload.lines[0], sku: huge }],
                    },
                  }
                : { ...validInvoice, payload: { ...validInvoice.payload, [field]: huge } };
      return body;
    })
    .filter((body) => !validateJobRequest(body).ok)
    .map((body) => request('huge-strings', JSON.stringify(body), [400]));
}

/**
 * `__proto__`, `constructor` and `prototype` keys at every level: a service that merges client JSON into objects
 * must neither be polluted nor crash. Written as raw text because JSON.stringify drops a real `__proto__`.
 */
const prototypeKeys = fc
  .tuple(
    fc.constantFrom(
      '"__proto__":{"polluted":true}',
      '"constructor":{"prototype":{"polluted":true}}',
      '"__proto__":null',
      '"prototype":{}',
      '"__proto__":[]',
    ),
    fc.constantFrom('top', 'payload', 'line'),
  )
  .map(([member, where]) => {
    const text =
      where === 'top'
        ? `{${member},"type":"ping","payload":{}}`
        : where === 'payload'
          ? `{"type":"ping","payload":{${member},"note":"x"}}`
          : `{"type":"invoice.total","payload":{"invoiceId":"i","currency":"EUR","taxRatePercent":1,"lines":[{${member},"sku":"s","quantity":1,"unitPriceCents":1}]}}`;
    return request('prototype-keys', text, [400]);
  });

/** A valid JSON body declared as something else, or not declared at all. */
const wrongContentType = fc
  .tuple(
    fc.constantFrom(...validBodies),
    fc.constantFrom(
      null,
      'text/plain',
      'text/html',
      'application/xml',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=chaos',
      'application/octet-stream',
      'application/jsonp',
      'image/png',
      'application/json-seq',
    ),
  )
  .map(([body, contentType]) => request('wrong-content-type', body, [415], { contentType }));

/** Bodies past BODY_LIMIT_BYTES, valid-looking JSON or junk: rejected with 413 before anyone parses them. */
function oversizeBody(bodyLimitBytes: number): fc.Arbitrary<MalformedRequest> {
  return fc
    .tuple(fc.integer({ min: bodyLimitBytes + 1, max: bodyLimitBytes * 4 }), fc.boolean())
    .map(([size, looksValid]) => {
      const text = looksValid ? `{"type":"ping","payload":{"note":"${'x'.repeat(size)}"}}` : 'z'.repeat(size);
      return request('oversize-body', text, [413]);
    });
}

/** A valid body with an Idempotency-Key the contract forbids (all digits, `:`, too long, empty-looking). */
const badIdempotencyKey = fc
  .tuple(
    fc.constantFrom(...validBodies),
    fc.oneof(
      fc.stringMatching(/^\d{1,20}$/),
      fc.stringMatching(/^[a-z]{1,10}:[a-z]{1,10}$/),
      fc.string({ minLength: 129, maxLength: 400, unit: fc.constantFrom('a', 'b', '1') }),
      fc.constantFrom('a b', 'key/with/slash', 'a*', '{opsforge}'),
    ),
  )
  .map(([body, key]) => request('bad-idempotency-key', body, [400], { headers: { 'idempotency-key': key } }));

export function malformedJobRequests(bodyLimitBytes: number): fc.Arbitrary<MalformedRequest> {
  return fc.oneof(
    { arbitrary: badJson, weight: 3 },
    { arbitrary: wrongTypes, weight: 4 },
    { arbitrary: deepNesting(bodyLimitBytes), weight: 1 },
    { arbitrary: hugeStrings(bodyLimitBytes), weight: 1 },
    { arbitrary: prototypeKeys, weight: 1 },
    { arbitrary: wrongContentType, weight: 1 },
    { arbitrary: oversizeBody(bodyLimitBytes), weight: 1 },
    { arbitrary: badIdempotencyKey, weight: 1 },
  );
}
