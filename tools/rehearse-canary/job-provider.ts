// The job metric provider of Argo Rollouts (metricproviders/job/job.go, v1.9.0; upstream ledger section
// canary-acceptance), reproduced for the canary acceptance Job: one process per measurement stands for the
// Job's one pod, running the container's command from this checkout (the image's working directory is the
// repository root, services/api/Dockerfile), with the container's environment:
//
//   - exit 0 is JobComplete -> Successful; any other exit, or activeDeadlineSeconds passing, is JobFailed ->
//     Failed (backoffLimit 0: the rehearsal refuses a Job that would retry, it does not reproduce retries);
//   - when the run ends first the process gets SIGTERM, as the Job's deletion gives its pod, and the
//     measurement counts Successful;
//   - Service URLs (`http://api-canary`) point at the process that stands for the Service's pods;
//   - durations are divided by the time scale and rates multiplied by it, so the load puts as many requests
//     in each scaled window as in production and the acceptance bound (ACCEPTANCE_TIMEOUT_MS) ends at the
//     same production-equivalent time: a build whose jobs never complete is aborted when it would be in a
//     cluster. What the rehearsal cannot scale (a real HTTP round trip, the queue, a worker, the 250 ms poll,
//     a slow canary's added 500 ms) then counts 15 times: a healthy acceptance takes ~0.1 s of the 2 s bound
//     (30 s / 15), one through a canary 500 ms slower ~1.1 s (docs/canary.md). Only the variables in SCALING
//     (and the target) are accepted: a new knob must say how it scales before the rehearsal runs it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { MetricSpec, MeasurementOutcome, RunningMeasurement } from './analysis-run';
import { killWithThisProcess } from './processes';

const REPOSITORY_ROOT = join(__dirname, '..', '..');

const SCALING: Record<string, 'duration' | 'rate'> = {
  ACCEPTANCE_TIMEOUT_MS: 'duration',
  LOAD_DURATION_SECONDS: 'duration',
  LOAD_REQUESTS_PER_SECOND: 'rate',
  LOAD_JOBS_PER_SECOND: 'rate',
};
const TARGET_VARIABLE = 'ACCEPTANCE_TARGET_URL';

interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}

interface JobSpec {
  backoffLimit?: number;
  activeDeadlineSeconds?: number;
  template: { spec: { containers: Container[]; initContainers?: Container[] } };
}

export interface JobEnvironment {
  timeScale: number;
  /** In-cluster Service name -> URL of the process standing for its pods. */
  services: Record<string, string>;
  log?: (line: string) => void;
}

export function isJobMetric(metric: MetricSpec): boolean {
  return metric.provider.job !== undefined;
}

/** The Job's one container, checked for what this provider reproduces; throws for anything else. */
export function jobContainerOf(metric: MetricSpec): { spec: JobSpec; container: Container } {
  const spec = (metric.provider.job as { spec?: JobSpec } | undefined)?.spec;
  const refuse = (why: string) =>
    new Error(`metric ${metric.name}: ${why}: the rehearsal does not reproduce it`);
  if (!spec) throw refuse('no job spec');
  if (spec.backoffLimit !== 0) throw refuse(`backoffLimit ${spec.backoffLimit ?? '6 (default)'} retries`);
  const { containers, initContainers } = spec.template.spec;
  if (containers.length !== 1 || initContainers?.length)
    throw refuse('a Job pod with more than one container');
  const [container] = containers;
  if (container.command?.[0] !== 'node' || !container.command[1])
    throw refuse(`command ${JSON.stringify(container.command)} is not a node script of the image`);
  for (const variable of container.env ?? []) {
    if (variable.valueFrom) throw refuse(`env ${variable.name} from valueFrom`);
    if (variable.name !== TARGET_VARIABLE && !SCALING[variable.name])
      throw refuse(`env ${variable.name} with no known time scaling`);
  }
  return { spec, container };
}

function scaledEnvironment(container: Container, environment: JobEnvironment): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { name, value = '' } of container.env ?? []) {
    if (name === TARGET_VARIABLE) {
      const url = new URL(value);
      const service = url.hostname.split('.')[0];
      const standIn = environment.services[service];
      if (!standIn)
        throw new Error(`${TARGET_VARIABLE} ${value}: no rehearsal process stands for Service ${service}`);
      env[name] = standIn;
    } else if (SCALING[name] === 'rate') env[name] = String(Number(value) * environment.timeScale);
    else env[name] = String(Number(value) / environment.timeScale);
  }
  return env;
}

/** The last `msg` of an error line the command printed (its JSON log), for the measurement's message. */
function lastError(output: string): string | undefined {
  const errors = output.split('\n').flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as { level?: string; msg?: string };
      return parsed.level === 'error' && parsed.msg ? [parsed.msg] : [];
    } catch {
      return [];
    }
  });
  return errors.at(-1);
}

/**
 * Starts the process of the Job's pod ahead of its measurement, held before its command loads (job-gate.cjs);
 * `run()` is Argo's Run(): it releases the process, and the measurement is Running until the process ends or
 * the run terminates it.
 */
export function prepareMetricJob(
  metric: MetricSpec,
  environment: JobEnvironment,
): { run(): RunningMeasurement; discard(): void } {
  const { spec, container } = jobContainerOf(metric);
  const [command, script, ...rest] = [...(container.command ?? []), ...(container.args ?? [])];
  const child = spawn(
    process.execPath,
    ['--require', join(__dirname, 'job-gate.cjs'), join(REPOSITORY_ROOT, script), ...rest],
    {
      env: { PATH: process.env.PATH ?? '', ...scaledEnvironment(container, environment) },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  killWithThisProcess(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-16_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    discard() {
      child.kill('SIGKILL');
    },
    run() {
      child.stdin.end('\n');
      environment.log?.(`job ${metric.name}: ${command} ${script} released (pid ${child.pid})`);
      let terminated = false;
      let deadlinePassed = false;
      const deadline =
        spec.activeDeadlineSeconds === undefined
          ? undefined
          : setTimeout(
              () => {
                deadlinePassed = true;
                child.kill('SIGKILL');
              },
              (spec.activeDeadlineSeconds * 1000) / environment.timeScale,
            );
      const completion = exited.then((code): MeasurementOutcome => {
        clearTimeout(deadline);
        const lines = output.trim().split('\n');
        environment.log?.(`job ${metric.name}: exited ${code}; last output ${lines.at(-1)}`);
        if (terminated) return { phase: 'Successful', message: 'Metric Terminated' };
        if (deadlinePassed)
          return {
            phase: 'Failed',
            message: `DeadlineExceeded: activeDeadlineSeconds ${spec.activeDeadlineSeconds}`,
          };
        if (code === 0) return { phase: 'Successful' };
        return { phase: 'Failed', message: lastError(output) ?? `exit ${code}: ${output.slice(-500)}` };
      });
      return {
        completion,
        // Argo's Terminate deletes the Job and returns: the measurement is Successful at once, without
        // waiting for the pod to stop (the command drains its in-flight requests first, ~0.5 s here against
        // a 500 ms slower canary = 7.5 production seconds added to every decision). The caller awaits
        // `completion` after the verdict, so no process outlives its run.
        async terminate() {
          terminated = true;
          child.kill('SIGTERM');
        },
      };
    },
  };
}
