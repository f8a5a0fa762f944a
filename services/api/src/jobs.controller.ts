import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Req,
  Res,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IDEMPOTENCY_KEY_PATTERN, validateJobRequest } from '@opsforge/common';
import { type EnqueueReceipt, type JobView, JobsService } from './jobs.service';

@Controller('api/job')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

  @Post()
  @HttpCode(202)
  async create(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Body() body: unknown,
    @Headers('content-type') contentType: string | undefined,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
  ): Promise<EnqueueReceipt> {
    // Fastify also parses text/plain; a job is JSON only.
    if (!contentType || !/^application\/json\s*(;|$)/i.test(contentType)) {
      this.jobs.countRejected(undefined);
      throw new UnsupportedMediaTypeException({
        message: 'content-type must be application/json',
        issues: [{ field: 'content-type', message: 'must be application/json' }],
      });
    }
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(idempotencyKey)) {
      this.jobs.countRejected(undefined);
      const message = '1 to 128 characters of letters, digits, _ . -, not all digits';
      throw new BadRequestException({
        message: `Idempotency-Key must be ${message}`,
        issues: [{ field: 'Idempotency-Key', message: `must be ${message}` }],
      });
    }
    const validation = validateJobRequest(body);
    if (!validation.ok) {
      this.jobs.countRejected(
        validation.ok === false &&
          validation.type !== undefined &&
          validation.issues.every((issue) => issue.field !== 'type')
          ? validation.type
          : undefined,
      );
      throw new BadRequestException({
        message: validation.issues.map((issue) => `${issue.field}: ${issue.message}`).join('; '),
        issues: validation.issues,
      });
    }
    const receipt = await this.jobs.enqueue(validation.type, validation.payload, request.id, idempotencyKey);
    void reply.header('location', receipt.links.self);
    // The same key again is answered like the first time, flagged so a client can tell (as Stripe does).
    if (receipt.status === 'duplicate') void reply.header('idempotent-replayed', 'true');
    return receipt;
  }

  @Get(':id')
  async read(@Param('id') id: string): Promise<JobView> {
    const job = await this.jobs.find(id);
    if (!job)
      throw new NotFoundException({
        message: `no job with id ${JSON.stringify(id)} (unknown, or removed after its retention)`,
      });
    return job;
  }
}
