import { Controller, Get, NotFoundException, Param } from '@nestjs/common';
import { type JobView, JobsService } from './jobs.service';

/** `GET /api/job/:id`. `POST /api/job` is a plain Fastify route (job-submission.ts says why). */
@Controller('api/job')
export class JobsController {
  constructor(private readonly jobs: JobsService) {}

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
