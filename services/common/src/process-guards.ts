import type { INestApplicationContext } from '@nestjs/common';
import type { Logger } from 'pino';
import { ConfigError, type ServiceIdentity } from './config';
import { LifecycleState } from './lifecycle-state';
import { createBootstrapLogger } from './logging';

/** EX_CONFIG from sysexits.h: a configuration error, not a crash. */
const EXIT_CONFIG_ERROR = 78;

/**
 * Validates the environment before anything else starts: a bad value stops the process with one fatal line
 * naming every offending variable, and exit code 78.
 */
export function loadConfigOrExit<Config>(
  app: ServiceIdentity['app'],
  packageVersion: string,
  load: (env: NodeJS.ProcessEnv, packageVersion: string) => Config,
): Config {
  try {
    return load(process.env, packageVersion);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createBootstrapLogger({ app, version: packageVersion }).fatal(
      { variables: error.variables },
      error.message,
    );
    process.exit(EXIT_CONFIG_ERROR);
  }
}

/**
 * What turns a bug into a clean, visible crash: an exception nobody caught (outside any request handler or job,
 * which Nest and BullMQ catch themselves) is logged as one fatal JSON line and the process exits 1, so
 * Kubernetes restarts it and the restart is counted.
 */
export function exitOnUncaughtErrors(logger: Logger): void {
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, `uncaught exception, exiting: ${error.message}`);
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    const error = reason instanceof Error ? reason : new Error(String(reason));
    logger.fatal({ err: error }, `unhandled promise rejection, exiting: ${error.message}`);
    process.exit(1);
  });
}

/** Margin after SHUTDOWN_TIMEOUT_MS for closing connections once draining has ended. */
const SHUTDOWN_WATCHDOG_MARGIN_MS = 5000;

/**
 * SIGTERM/SIGINT: Nest runs the shutdown hooks (readiness fails, HTTP drains, workers finish active jobs within
 * SHUTDOWN_TIMEOUT_MS, connections close) and exits 0. If that hangs anyway, a watchdog exits 1 before the
 * kubelet's SIGKILL so the stuck shutdown shows in the logs and the exit code.
 */
export function exitGracefullyOnSignals(
  app: INestApplicationContext,
  logger: Logger,
  shutdownTimeoutMs: number,
): void {
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // Readiness fails now: Nest reaches LifecycleState.onModuleDestroy only after prepareClose and the destroy
      // hooks of the modules before it, any of which may wait for I/O, and a /ready read in between said 200.
      app.get(LifecycleState, { strict: false }).startDraining();
      logger.info({ signal }, `received ${signal}, shutting down`);
      setTimeout(() => {
        logger.fatal(
          `shutdown did not finish within ${shutdownTimeoutMs + SHUTDOWN_WATCHDOG_MARGIN_MS} ms, exiting`,
        );
        process.exit(1);
      }, shutdownTimeoutMs + SHUTDOWN_WATCHDOG_MARGIN_MS).unref();
    });
  }
}
