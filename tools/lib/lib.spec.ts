// What the tools rely on from tools/lib, the one model of Kubernetes and Argo they share: kustomize as Argo CD
// renders (the real `kubectl kustomize`), Go and Argo durations, IntOrString as Argo reads counts, label
// selectors, quantities, and AnalysisTemplate argument substitution.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDuration, parseArgoDuration, parseGoDuration } from './duration';
import { intValue } from './int-or-string';
import { objectName, parseQuantity, selectorMatches, serviceSelects } from './kubernetes';
import { kustomizeObjects, parseObjects, RenderError } from './kustomize';
import { argNames, substituteArgs } from './template-args';

describe('kustomize', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'opsforge-lib-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  function kustomization(name: string, files: Record<string, string>): string {
    const directory = join(scratch, name);
    mkdirSync(directory);
    for (const [file, text] of Object.entries(files)) writeFileSync(join(directory, file), text);
    return directory;
  }

  it('renders a kustomization as Argo CD would: generated names hashed, namespace set, in order', () => {
    const directory = kustomization('ok', {
      'kustomization.yaml': [
        'namespace: dev',
        'resources: [service.yaml]',
        'configMapGenerator:',
        '  - name: api-config',
        '    literals: [LOG_LEVEL=info]',
      ].join('\n'),
      'service.yaml':
        'apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports: [{ port: 80 }]\n',
    });
    const objects = kustomizeObjects(directory, 'ok');
    expect(objects.map(objectName)).toEqual([
      expect.stringMatching(/^ConfigMap\/api-config-[a-z0-9]{10}$/),
      'Service/api',
    ]);
    expect(objects.every((o) => o.metadata?.namespace === 'dev')).toBe(true);
    expect(objects[0].data).toEqual({ LOG_LEVEL: 'info' });
  });

  it("throws a RenderError naming the directory and carrying kustomize's own message", () => {
    const directory = kustomization('broken', { 'kustomization.yaml': 'resources: [missing.yaml]\n' });
    expect(() => kustomizeObjects(directory, 'gitops/envs/broken')).toThrow(RenderError);
    expect(() => kustomizeObjects(directory, 'gitops/envs/broken')).toThrow(
      /^kubectl kustomize gitops\/envs\/broken failed: .*missing\.yaml/s,
    );
  });

  it('parses a YAML stream without its empty documents, and names the stream when it does not parse', () => {
    const stream = '---\napiVersion: v1\nkind: A\n---\n---\napiVersion: v1\nkind: B\n';
    expect(parseObjects(stream, 'two').map((o) => o.kind)).toEqual(['A', 'B']);
    expect(() => parseObjects('kind: [A\n', 'argocd/root.yaml')).toThrow(
      /^argocd\/root\.yaml is invalid YAML/,
    );
  });

  it('refuses a document that is not a Kubernetes object, naming the stream and the document', () => {
    expect(() => parseObjects('apiVersion: v1\nkind: A\n---\nkind: B\n', 'argocd/root.yaml')).toThrow(
      'argocd/root.yaml: document 2 is not a Kubernetes object (no apiVersion/kind)',
    );
    expect(() => parseObjects('- apiVersion: v1\n  kind: A\n', 'list.yaml')).toThrow(RenderError);
  });
});

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['1500us', 1.5],
    ['0', 0],
    ['-2m', -120_000],
  ])('Go duration %s is %d ms', (text, milliseconds) => {
    expect(parseGoDuration(text)).toBe(milliseconds);
  });

  it.each(['30', '', '1d', 'm', '1m 30s'])(
    'Go duration %j is an error (no unit, unknown unit, no number)',
    (text) => {
      expect(() => parseGoDuration(text)).toThrow(`invalid duration ${JSON.stringify(text)}`);
    },
  );

  it('reads a pause as Argo does: a number or a string of digits is seconds, any other string a Go duration', () => {
    expect(parseArgoDuration(30)).toBe(30_000);
    expect(parseArgoDuration('30')).toBe(30_000);
    expect(parseArgoDuration('30s')).toBe(30_000);
    expect(parseArgoDuration('2m')).toBe(120_000);
    expect(() => parseArgoDuration('30 seconds')).toThrow(/invalid duration/);
  });

  it('writes milliseconds as the shortest Go-style text', () => {
    expect([240_000, 4000, 1500, 250].map(formatDuration)).toEqual(['4m', '4s', '1.5s', '250ms']);
  });
});

describe('IntOrString as Argo Rollouts reads a count (IntValue)', () => {
  it('is the number, or the integer a string spells', () => {
    expect(intValue(3)).toBe(3);
    expect(intValue('3')).toBe(3);
    expect(intValue('-2')).toBe(-2);
  });

  it('is 0 for any other string (an unresolved template arg, a percentage), never NaN', () => {
    expect(intValue('{{args.replicas}}')).toBe(0);
    expect(intValue('25%')).toBe(0);
    expect(intValue('1.5')).toBe(0);
  });

  it('reads a string as strconv.Atoi does: a sign is allowed, spaces are not (ledger rollouts-intvalue-is-atoi)', () => {
    expect(intValue('+3')).toBe(3);
    expect(intValue(' 3')).toBe(0);
    expect(intValue('3 ')).toBe(0);
  });

  it('is undefined when the field is absent, so a caller can apply its own default', () => {
    expect(intValue(undefined)).toBeUndefined();
  });
});

describe('label selectors', () => {
  const labels = { app: 'api', track: 'canary' };

  it('matches matchLabels and matchExpressions together (AND), and an empty selector matches every pod', () => {
    expect(selectorMatches({ matchLabels: { app: 'api' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'worker' } }, labels)).toBe(false);
    expect(
      selectorMatches(
        {
          matchLabels: { app: 'api' },
          matchExpressions: [{ key: 'track', operator: 'In', values: ['stable'] }],
        },
        labels,
      ),
    ).toBe(false);
    expect(selectorMatches({}, labels)).toBe(true);
  });

  it.each([
    ['In', ['canary', 'stable'], true],
    ['In', ['stable'], false],
    ['NotIn', ['stable'], true],
    ['NotIn', ['canary'], false],
    ['Exists', undefined, true],
    ['DoesNotExist', undefined, false],
    ['Matches', ['canary'], false],
  ])('operator %s %j on track=canary: %s', (operator, values, matches) => {
    expect(selectorMatches({ matchExpressions: [{ key: 'track', operator, values }] }, labels)).toBe(matches);
  });

  it('selects nothing without a selector; a Service without one selects no pod', () => {
    expect(selectorMatches(undefined, labels)).toBe(false);
    expect(serviceSelects({ spec: { selector: { app: 'api' } } }, labels)).toBe(true);
    expect(serviceSelects({ spec: { selector: {} } }, labels)).toBe(false);
    expect(serviceSelects({ spec: {} }, labels)).toBe(false);
  });
});

describe('resource quantities', () => {
  it.each([
    ['250m', 0.25],
    ['1', 1],
    ['1.5', 1.5],
    ['128Mi', 128 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['2k', 2000],
  ])('%s is %d', (text, value) => {
    expect(parseQuantity(text)).toBe(value);
  });

  it('is NaN when malformed or absent, so a rule reports it instead of comparing garbage', () => {
    expect(parseQuantity('1 Gi')).toBeNaN();
    expect(parseQuantity('lots')).toBeNaN();
    expect(parseQuantity(undefined)).toBeNaN();
  });
});

describe('AnalysisTemplate arguments', () => {
  const query = 'sum(rate(x{service="{{ args.service }}"}[{{args.window}}])) / {{ args.service }}';

  it('lists each argument a text uses once, in order', () => {
    expect(argNames(query)).toEqual(['service', 'window']);
  });

  it('replaces every {{ args.NAME }} it has a value for', () => {
    const values: Record<string, string> = { service: 'api', window: '1m' };
    expect(substituteArgs(query, (name) => values[name])).toEqual({
      text: 'sum(rate(x{service="api"}[1m])) / api',
      unresolved: [],
    });
  });

  it('leaves an unknown argument, or a tag that is not args.NAME, as written and lists it', () => {
    expect(substituteArgs('{{ args.missing }} {{ metric.x }}', () => undefined)).toEqual({
      text: '{{ args.missing }} {{ metric.x }}',
      unresolved: ['{{ args.missing }}', '{{ metric.x }}'],
    });
  });
});
