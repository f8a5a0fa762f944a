import { UnrecoverableError } from 'bullmq';
import type { InvoiceTotalPayload, InvoiceTotalResult } from '@opsforge/common';

/** Largest invoice total accepted (10 billion in the currency's main unit): a business rule of this worker. */
export const MAX_INVOICE_TOTAL_CENTS = 1_000_000_000_000;

/**
 * Totals of an invoice in integer cents. BigInt keeps the arithmetic exact for any line the contract admits;
 * tax is rounded half away from zero to the cent, once, on the subtotal. A total beyond the limit can never
 * succeed however often it is retried, so it fails at once with the reason.
 */
export function computeInvoiceTotal(invoice: InvoiceTotalPayload): InvoiceTotalResult {
  const subtotal = invoice.lines.reduce(
    (sum, line) => sum + BigInt(line.quantity) * BigInt(line.unitPriceCents),
    0n,
  );
  // Tax rate in hundredths of a percent keeps 19.25 % exact: tax = subtotal * basisPoints / 10000, rounded.
  const basisPoints = BigInt(Math.round(invoice.taxRatePercent * 100));
  const tax = (subtotal * basisPoints + 5_000n) / 10_000n;
  const total = subtotal + tax;
  if (total > BigInt(MAX_INVOICE_TOTAL_CENTS)) {
    throw new UnrecoverableError(
      `invoice ${invoice.invoiceId} totals ${total} cents, above the limit of ${MAX_INVOICE_TOTAL_CENTS} cents`,
    );
  }
  return {
    invoiceId: invoice.invoiceId,
    currency: invoice.currency,
    lineCount: invoice.lines.length,
    subtotalCents: Number(subtotal),
    taxCents: Number(tax),
    totalCents: Number(total),
  };
}
