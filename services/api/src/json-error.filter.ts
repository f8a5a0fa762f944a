import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Every error answer of the API has this shape; `issues` names the offending fields when there are any. */
export interface ApiErrorBody {
  statusCode: number;
  error: string;
  message: string;
  issues?: { field: string; message: string }[];
}

// Errors Fastify raises before a controller runs, and which part of the request each one is about.
const fieldOfFastifyError: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'content-length',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'content-type',
  FST_ERR_CTP_INVALID_TYPE: 'content-type',
};

const reasonPhrases: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * One JSON error shape for everything: the API's own HttpExceptions, Fastify's parser errors (malformed JSON,
 * body over BODY_LIMIT_BYTES, unsupported content type) and unexpected bugs. A bug becomes a 500 with a generic
 * message (details go to the log, not to the client) and never takes the process down.
 */
@Catch()
export class JsonErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpErrors');

  constructor(private readonly bodyLimitBytes: number) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const request = host.switchToHttp().getRequest<FastifyRequest>();
    // A body built on purpose (the readiness report naming the failing dependency) goes out unchanged.
    if (exception instanceof HttpException && this.isPreparedBody(exception.getResponse())) {
      void reply.code(exception.getStatus()).send(exception.getResponse());
      return;
    }
    const body = this.describe(exception);
    if (body.statusCode >= 500 && !(exception instanceof HttpException)) {
      this.logger.error(
        { err: exception, requestId: request.id },
        `unhandled error: ${(exception as Error)?.message ?? String(exception)}`,
      );
    }
    void reply.code(body.statusCode).send(body);
  }

  private isPreparedBody(response: string | object): boolean {
    return typeof response === 'object' && response !== null && !('message' in response);
  }

  private describe(exception: unknown): ApiErrorBody {
    // Nest wraps Fastify's own errors in an HttpException; the original, with its FST_ERR_* code, is the cause.
    const cause =
      exception instanceof HttpException ? (exception.cause as { code?: unknown } | undefined) : undefined;
    if (typeof cause?.code === 'string' && cause.code.startsWith('FST_'))
      return this.describeFastifyError(cause);
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      const response = exception.getResponse();
      if (typeof response === 'object' && response !== null && 'message' in response) {
        return {
          error: reasonPhrases[statusCode] ?? 'Error',
          ...(response as Partial<ApiErrorBody>),
          statusCode,
        } as ApiErrorBody;
      }
      return { statusCode, error: reasonPhrases[statusCode] ?? 'Error', message: String(response) };
    }
    return this.describeFastifyError(exception);
  }

  private describeFastifyError(exception: unknown): ApiErrorBody {
    const fastifyError = exception as { code?: string; statusCode?: number; message?: string };
    const statusCode =
      fastifyError.statusCode !== undefined && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500
        ? fastifyError.statusCode
        : 500;
    if (statusCode === 500) return { statusCode, error: reasonPhrases[500], message: 'internal error' };
    const message =
      fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? `request body exceeds the limit of ${this.bodyLimitBytes} bytes`
        : (fastifyError.message ?? 'bad request');
    const field = fastifyError.code ? fieldOfFastifyError[fastifyError.code] : undefined;
    return {
      statusCode,
      error: reasonPhrases[statusCode] ?? 'Error',
      message,
      ...(field ? { issues: [{ field, message }] } : {}),
    };
  }
}
