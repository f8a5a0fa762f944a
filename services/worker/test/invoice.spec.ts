import { UnrecoverableError } from 'bullmq';
import { computeInvoiceTotal } from '../src/invoice';

describe('invoice totals', () => {
  it('sums lines in cents and rounds tax half up, once, on the subtotal', () => {
    expect(
      computeInvoiceTotal({
        invoiceId: 'A',
        currency: 'EUR',
        taxRatePercent: 19,
        lines: [
          { sku: 'x', quantity: 3, unitPriceCents: 1999 },
          { sku: 'y', quantity: 1, unitPriceCents: 5 },
        ],
      }),
    ).toEqual({
      invoiceId: 'A',
      currency: 'EUR',
      lineCount: 2,
      subtotalCents: 6002,
      taxCents: 1140,
      totalCents: 7142,
    });
  });

  it('keeps fractional tax rates exact', () => {
    // 10000 × 7.25 % = 725 exactly; floating point would give 724.9999...
    expect(
      computeInvoiceTotal({
        invoiceId: 'B',
        currency: 'USD',
        taxRatePercent: 7.25,
        lines: [{ sku: 'x', quantity: 1, unitPriceCents: 10_000 }],
      }).taxCents,
    ).toBe(725);
  });

  it('refuses, unrecoverably, a total above the limit', () => {
    const huge = () =>
      computeInvoiceTotal({
        invoiceId: 'C',
        currency: 'EUR',
        taxRatePercent: 0,
        lines: [{ sku: 'x', quantity: 1_000_000, unitPriceCents: 10_000_000 }],
      });
    expect(huge).toThrow(UnrecoverableError);
    expect(huge).toThrow(/totals 10000000000000 cents, above the limit of 1000000000000 cents/);
  });
});
