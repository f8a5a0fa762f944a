import { IDEMPOTENCY_KEY_PATTERN, JOB_TYPES, validateJobRequest } from '../src/job-contract';

describe('the job contract', () => {
  it('knows its job types', () => {
    expect(JOB_TYPES).toEqual(['invoice.total', 'ping']);
  });

  it('accepts a valid invoice and strips nothing from it', () => {
    const payload = {
      invoiceId: 'INV-1',
      currency: 'EUR',
      taxRatePercent: 7.5,
      lines: [{ sku: 'a', quantity: 2, unitPriceCents: 100 }],
    };
    expect(validateJobRequest({ type: 'invoice.total', payload })).toEqual({
      ok: true,
      type: 'invoice.total',
      payload,
    });
  });

  it('names each offending field with its path', () => {
    const result = validateJobRequest({
      type: 'invoice.total',
      payload: { invoiceId: '', currency: 'euro', taxRatePercent: 101, lines: [] },
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((issue) => issue.field).sort()).toEqual([
      'payload.currency',
      'payload.invoiceId',
      'payload.lines',
      'payload.taxRatePercent',
    ]);
  });

  it('reports an unknown type with the list of known ones', () => {
    const result = validateJobRequest({ type: 'send.email', payload: {} });
    expect(result).toMatchObject({
      ok: false,
      issues: [{ field: 'type', message: expect.stringContaining('invoice.total, ping') }],
    });
  });

  it('rejects unknown top-level fields', () => {
    expect(validateJobRequest({ type: 'ping', payload: {}, priority: 1 })).toMatchObject({
      ok: false,
      issues: [{ field: 'priority' }],
    });
  });

  it.each([
    ['order-2024-001', true],
    ['a.b_c-d', true],
    ['12345', false],
    ['has:colon', false],
    ['', false],
    ['x'.repeat(129), false],
  ])('idempotency key %j acceptable: %s', (key, acceptable) => {
    expect(IDEMPOTENCY_KEY_PATTERN.test(key)).toBe(acceptable);
  });
});
