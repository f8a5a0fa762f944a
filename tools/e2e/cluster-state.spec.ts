import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  alertmanagerRunsConfig,
  analysisRunMeasured,
  applicationsNotReady,
  assessBadRelease,
  assessGoodRelease,
  canaryWeight,
  notificationReached,
  outcome,
  plannedCanaryWeights,
  prometheusHasValue,
  ReleaseWatch,
  sample,
  syncedTo,
  type AnalysisRun,
  type Application,
  type HttpRoute,
  type Rollout,
  type Sample,
} from './cluster-state';

// Recorded-shape `kubectl get -o json` outputs (Argo CD v3 Application, Argo Rollouts v1.9 Rollout and
// AnalysisRun, Gateway API v1 HTTPRoute) and Prometheus / Alertmanager HTTP answers.
const fixture = <T>(name: string): T =>
  JSON.parse(readFileSync(join(__dirname, 'fixtures', name), 'utf8')) as T;
const copy = <T>(value: T): T => structuredClone(value);

const REVISION = '3b7e9d1c5a2f4e6b8d0c1a3e5f7b9d2c4e6a8f0b';
const STABLE = '7f8b9c6d4';
const CANARY = '6d9c7b8f5';

function routeAt(weight: number): HttpRoute {
  const route = copy(fixture<HttpRoute>('httproute-stable.json'));
  const [stable, canary] = route.spec.rules![0].backendRefs!;
  stable.weight = 100 - weight;
  canary.weight = weight;
  return route;
}

function rolloutAt(stepIndex: number, weight: number): Rollout {
  const rollout = copy(fixture<Rollout>('rollout-paused-step1.json'));
  rollout.status!.currentStepIndex = stepIndex;
  rollout.status!.canary!.weights!.canary!.weight = weight;
  return rollout;
}

const syncedApp = (revision = REVISION) => {
  const application = copy(
    fixture<{ items: Application[] }>('applications-ready.json').items.find(
      (a) => a.metadata.name === 'opsforge-dev',
    )!,
  );
  application.status!.sync!.revision = revision;
  application.status!.operationState!.syncResult!.revision = revision;
  return application;
};
const outOfSyncApp = () => {
  const application = syncedApp();
  application.status!.sync!.status = 'OutOfSync';
  return application;
};

/** A good release as the e2e samples it: stable, 5, 25, 50 (paused between), then promoted. */
function goodRelease(app: (index: number) => Application = () => syncedApp()): Sample[] {
  const steps: [Rollout, number][] = [
    [fixture<Rollout>('rollout-healthy-stable.json'), 0],
    [rolloutAt(1, 5), 5],
    [rolloutAt(1, 5), 5],
    [rolloutAt(3, 25), 25],
    [rolloutAt(5, 50), 50],
    [fixture<Rollout>('rollout-completed.json'), 0],
  ];
  return steps.map(([rollout, weight], index) =>
    sample(rollout, routeAt(weight), 'api-canary', app(index), REVISION),
  );
}

describe('Argo CD Applications', () => {
  it('are ready only when every one is Synced and Healthy, and each one that is not says why', () => {
    expect(applicationsNotReady(fixture<{ items: Application[] }>('applications-ready.json').items)).toEqual(
      [],
    );
    expect(
      applicationsNotReady(fixture<{ items: Application[] }>('applications-converging.json').items),
    ).toEqual([
      expect.stringMatching(
        /^kube-prometheus-stack: OutOfSync\/Missing \(last sync Failed: one or more synchronization tasks are not valid.*SyncError: Failed sync attempt to 81\.4\.5/,
      ),
      'opsforge-dev: Synced/Progressing (last sync Succeeded: successfully synced (all tasks run); Rollout is paused)',
    ]);
  });

  it('an Application without a status yet (just created by the ApplicationSet) is not ready', () => {
    expect(applicationsNotReady([{ metadata: { name: 'opsforge-dev' } }])).toEqual([
      'opsforge-dev: Unknown/Unknown',
    ]);
  });

  it('has synced a commit only when it compares with it and its last sync applied it', () => {
    const application = syncedApp();
    expect(syncedTo(application, REVISION)).toBe(true);
    const next = 'c'.repeat(40);
    expect(syncedTo(application, next)).toBe(false);
    // Compared with the new commit, but the sync that applies it is still running.
    application.status!.sync!.revision = next;
    application.status!.operationState!.phase = 'Running';
    expect(syncedTo(application, next)).toBe(false);
    application.status!.operationState = { phase: 'Succeeded', syncResult: { revision: next } };
    expect(syncedTo(application, next)).toBe(true);
  });
});

describe('a release, from Rollout and HTTPRoute outputs', () => {
  it('reads the planned weights from the Rollout steps and the canary weight from the route', () => {
    expect(plannedCanaryWeights(fixture<Rollout>('rollout-paused-step1.json'))).toEqual([5, 25, 50]);
    expect(canaryWeight(fixture<HttpRoute>('httproute-canary-5.json'), 'api-canary')).toBe(5);
    expect(canaryWeight(fixture<HttpRoute>('httproute-stable.json'), 'api-canary')).toBe(0);
    expect(canaryWeight(fixture<HttpRoute>('httproute-stable.json'), 'worker-canary')).toBeUndefined();
  });

  it('is completed when the new hash became stable, aborted when the controller set abort, else in progress', () => {
    const at = (name: string) =>
      sample(fixture<Rollout>(name), routeAt(0), 'api-canary', syncedApp(), REVISION);
    expect(outcome(at('rollout-healthy-stable.json'), STABLE)).toBe('in progress'); // nothing new yet
    expect(outcome(at('rollout-paused-step1.json'), STABLE)).toBe('in progress');
    expect(outcome(at('rollout-completed.json'), STABLE)).toBe('completed');
    expect(outcome(at('rollout-aborted.json'), STABLE)).toBe('aborted');
    expect(at('rollout-paused-step1.json')).toMatchObject({
      paused: true,
      currentHash: CANARY,
      stableHash: STABLE,
    });
  });

  it('a good release passes: every planned weight seen in order, the env Application Synced throughout', () => {
    expect(assessGoodRelease(goodRelease(), [5, 25, 50], STABLE)).toEqual([]);
  });

  it('selfHeal reverting the plugin (weight back to 0 mid-canary, app OutOfSync) is caught', () => {
    const samples = goodRelease((index) => (index === 3 ? outOfSyncApp() : syncedApp()));
    samples.splice(3, 0, sample(rolloutAt(3, 25), routeAt(0), 'api-canary', outOfSyncApp(), REVISION));
    expect(assessGoodRelease(samples, [5, 25, 50], STABLE)).toEqual([
      expect.stringContaining('the canary weight fell back to 0 at step 3'),
      expect.stringContaining('the env Application was OutOfSync'),
    ]);
  });

  it('a skipped step, a release that never completes, or the wrong commit synced is caught', () => {
    const skipped = goodRelease().filter((s) => s.routeWeight !== 25);
    expect(assessGoodRelease(skipped, [5, 25, 50], STABLE)).toEqual([
      'the route showed canary weights [5,50], the steps plan [5,25,50]',
    ]);
    const stuck = goodRelease().slice(0, -1);
    expect(assessGoodRelease(stuck, [5, 25, 50], STABLE)).toEqual([
      expect.stringContaining('the release did not complete'),
    ]);
    const otherCommit = goodRelease(() => syncedApp('d'.repeat(40)));
    expect(assessGoodRelease(otherCommit, [5, 25, 50], STABLE)).toEqual([
      expect.stringContaining(`not Synced at ${REVISION}`),
    ]);
  });

  it('while a commit made during the pause syncs, the app may be OutOfSync (expected revision unset)', () => {
    const samples = goodRelease();
    samples[2] = { ...samples[2], applicationSync: 'OutOfSync', expectedRevision: undefined };
    expect(assessGoodRelease(samples, [5, 25, 50], STABLE)).toEqual([]);
  });

  it('a bad release passes when the controller aborted it after the canary got traffic and the route is back at 0', () => {
    const bad = [
      sample(
        fixture<Rollout>('rollout-healthy-stable.json'),
        routeAt(0),
        'api-canary',
        syncedApp(),
        REVISION,
      ),
      sample(rolloutAt(1, 5), routeAt(5), 'api-canary', syncedApp(), REVISION),
      sample(fixture<Rollout>('rollout-aborted.json'), routeAt(0), 'api-canary', syncedApp(), REVISION),
    ];
    expect(assessBadRelease(bad, STABLE)).toEqual([]);
    const weightLeft = [
      ...bad.slice(0, 2),
      sample(fixture<Rollout>('rollout-aborted.json'), routeAt(5), 'api-canary', syncedApp(), REVISION),
    ];
    expect(assessBadRelease(weightLeft, STABLE)).toEqual([
      'the canary backend still has weight 5 after the abort',
    ]);
    const promoted = [
      ...bad.slice(0, 2),
      sample(fixture<Rollout>('rollout-completed.json'), routeAt(0), 'api-canary', syncedApp(), REVISION),
    ];
    expect(assessBadRelease(promoted, STABLE)).toEqual([
      'the bad release was promoted',
      expect.stringContaining('the bad release was not aborted'),
      `stable moved from ${STABLE} to ${CANARY}`,
    ]);
    expect(assessBadRelease([bad[0], bad[2]], STABLE)).toEqual([
      'the canary never received traffic, so the abort was not decided on its measurements',
    ]);
  });
});

describe('analysis, Prometheus and Alertmanager answers', () => {
  it('an AnalysisRun decided on measured values passes; one whose queries found no series fails', () => {
    expect(analysisRunMeasured(fixture<AnalysisRun>('analysisrun-successful.json'), 'Successful')).toEqual(
      [],
    );
    expect(analysisRunMeasured(fixture<AnalysisRun>('analysisrun-no-series.json'), 'Successful')).toEqual([
      'api-6d9c7b8f5-4 is Inconclusive, expected Successful',
      'api-6d9c7b8f5-4: metric error-rate has no measurement with a value (the query found no canary series)',
    ]);
  });

  it('a Prometheus answer with a number passes, an empty vector or an error does not', () => {
    expect(prometheusHasValue(fixture('prometheus-canary-rate.json'))).toEqual([]);
    expect(prometheusHasValue(fixture('prometheus-empty.json'))).toEqual([
      'the query returned an empty result',
    ]);
    expect(prometheusHasValue({ status: 'error', error: 'parse error' })).toEqual([
      'Prometheus answered error: parse error',
    ]);
  });

  it("Alertmanager runs our config (our receivers), not the chart's default", () => {
    const receivers = ['sre-pager', 'api-team', 'worker-team', 'sre-team', 'deadmans-switch'];
    expect(alertmanagerRunsConfig(fixture('alertmanager-status-ours.json'), receivers)).toEqual([]);
    expect(alertmanagerRunsConfig(fixture('alertmanager-status-chart-default.json'), receivers)).toEqual([
      expect.stringContaining('no receiver sre-pager, api-team, worker-team, sre-team, deadmans-switch'),
    ]);
  });

  it('the test alert must arrive at the receiver it routes to, not elsewhere', () => {
    const slack = {
      path: '/receivers/slack-api-webhook-url',
      body: '{"channel":"#opsforge-api","attachments":[{"title":"[FIRING:1] OpsforgeE2eTestAlert (warning)"}]}',
    };
    expect(notificationReached([slack], '/receivers/slack-api-webhook-url', 'OpsforgeE2eTestAlert')).toEqual(
      [],
    );
    expect(
      notificationReached(
        [{ ...slack, path: '/receivers/slack-sre-webhook-url' }],
        '/receivers/slack-api-webhook-url',
        'OpsforgeE2eTestAlert',
      ),
    ).toEqual([
      'no notification reached /receivers/slack-api-webhook-url; received at: /receivers/slack-sre-webhook-url',
    ]);
    expect(notificationReached([slack], '/receivers/slack-api-webhook-url', 'Watchdog')).toEqual([
      'the notifications at /receivers/slack-api-webhook-url do not mention Watchdog',
    ]);
  });
});

describe('following a release with a commit made during its pause (ReleaseWatch)', () => {
  const HOOK = 'e'.repeat(40);
  const stable = () => fixture<Rollout>('rollout-healthy-stable.json');
  const done = () => fixture<Rollout>('rollout-completed.json');
  const lagging = () => {
    const application = syncedApp();
    application.status!.sync = { status: 'OutOfSync', revision: HOOK };
    application.status!.operationState = { phase: 'Running', syncResult: { revision: REVISION } };
    return application;
  };

  it('asks for the hook at the first pause with canary traffic, tolerates the sync lag, then holds the new commit', () => {
    const watch = new ReleaseWatch(STABLE, REVISION, true);
    expect(watch.observe(stable(), routeAt(0), 'api-canary', syncedApp())).toBe('continue');
    expect(watch.observe(rolloutAt(1, 5), routeAt(5), 'api-canary', syncedApp())).toBe('run hook');
    watch.hookCommitted(HOOK);
    expect(watch.observe(rolloutAt(1, 5), routeAt(5), 'api-canary', lagging())).toBe('continue');
    expect(watch.observe(rolloutAt(1, 5), routeAt(5), 'api-canary', syncedApp(HOOK))).toBe('continue');
    expect(watch.observe(rolloutAt(3, 25), routeAt(25), 'api-canary', syncedApp(HOOK))).toBe('continue');
    expect(watch.observe(rolloutAt(5, 50), routeAt(50), 'api-canary', syncedApp(HOOK))).toBe('continue');
    expect(watch.observe(done(), routeAt(0), 'api-canary', syncedApp(HOOK))).toBe('done');
    expect(watch.problems('completed', [5, 25, 50])).toEqual([]);
  });

  it('a commit that syncs only after the canary ended (a sync blocked by the paused canary) is caught', () => {
    const watch = new ReleaseWatch(STABLE, REVISION, true);
    watch.observe(stable(), routeAt(0), 'api-canary', syncedApp());
    watch.observe(rolloutAt(1, 5), routeAt(5), 'api-canary', syncedApp());
    watch.hookCommitted(HOOK);
    for (const [step, weight] of [
      [1, 5],
      [3, 25],
      [5, 50],
    ])
      watch.observe(rolloutAt(step, weight), routeAt(weight), 'api-canary', lagging());
    expect(watch.observe(done(), routeAt(0), 'api-canary', syncedApp(HOOK))).toBe('done');
    expect(watch.problems('completed', [5, 25, 50])).toEqual([
      `the commit made while the canary was paused (${HOOK}) did not sync before the canary ended`,
    ]);
  });

  it('after the new commit synced, drifting from it (OutOfSync again) is caught; no pause at all is caught', () => {
    const watch = new ReleaseWatch(STABLE, REVISION, true);
    watch.observe(rolloutAt(1, 5), routeAt(5), 'api-canary', syncedApp());
    watch.hookCommitted(HOOK);
    watch.observe(rolloutAt(1, 5), routeAt(5), 'api-canary', syncedApp(HOOK));
    watch.observe(rolloutAt(3, 25), routeAt(25), 'api-canary', lagging());
    watch.observe(rolloutAt(5, 50), routeAt(50), 'api-canary', syncedApp(HOOK));
    watch.observe(done(), routeAt(0), 'api-canary', syncedApp(HOOK));
    expect(watch.problems('completed', [5, 25, 50])).toEqual([
      expect.stringContaining(`the env Application was OutOfSync at ${HOOK}`),
    ]);

    const never = new ReleaseWatch(STABLE, REVISION, true);
    never.observe(done(), routeAt(0), 'api-canary', syncedApp());
    expect(never.problems('completed', [5, 25, 50])).toEqual([
      'the route showed canary weights [], the steps plan [5,25,50]',
      'the canary never paused with traffic, so no commit was made during a pause',
    ]);
  });
});
