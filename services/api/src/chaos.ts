import type { FastifyInstance } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { faultHits } from '@opsforge/common';

interface ChaosSettings {
  /** Fraction of /api/* requests answered 500 (CHAOS_ERROR_RATIO), evenly spread (fault-ratio.ts). */
  errorRatio: number;
  /** Latency added to every /api/* request (CHAOS_LATENCY_MS). */
  latencyMs: number;
}

/**
 * Deliberate faults for rehearsing a bad release (the canary analysis must abort it), in the spirit of
 * podinfo's fault injection. Off by default; a policy test forbids them in prod. Probes and /metrics are never
 * affected, so a "bad" build still looks alive and is judged by its error rate and latency, as in real life.
 */
export function injectChaos(fastify: FastifyInstance, settings: ChaosSettings): void {
  if (settings.errorRatio === 0 && settings.latencyMs === 0) return;
  const answeredWithError = faultHits(settings.errorRatio);
  fastify.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/')) return;
    if (settings.latencyMs > 0) await sleep(settings.latencyMs);
    if (answeredWithError()) {
      await reply.code(500).send({
        statusCode: 500,
        error: 'Internal Server Error',
        message: 'injected failure (CHAOS_ERROR_RATIO)',
      });
    }
  });
}
