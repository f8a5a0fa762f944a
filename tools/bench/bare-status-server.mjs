// Baseline for GET /api/status: bare Fastify answering the same JSON from memory, with no logging, metrics,
// validation or Redis. The API's throughput is reported as a fraction of this one's.
import Fastify from 'fastify';
import { answerCpuQueries } from './cpu-probe.mjs';

const body = JSON.parse(process.env.STATUS_BODY ?? '{}');
const server = Fastify({ logger: false });
server.get('/api/status', async () => body);
await server.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
answerCpuQueries();
process.send?.('listening');
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
