import Ajv from 'ajv';
import { schemasFromCrds, splitForValidation, strictSchema } from './crd-schemas';

// A CRD shaped like the ones controller-gen writes (Argo Rollouts' Rollout, trimmed): int-or-string fields,
// a preserve-unknown-fields subtree, a nullable field, an unserved old version.
const rolloutCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'rollouts.argoproj.io' },
  spec: {
    group: 'argoproj.io',
    names: { kind: 'Rollout', plural: 'rollouts' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                properties: {
                  replicas: { type: 'integer', format: 'int32' },
                  strategy: {
                    type: 'object',
                    properties: {
                      canary: {
                        type: 'object',
                        properties: {
                          maxSurge: {
                            anyOf: [{ type: 'integer' }, { type: 'string' }],
                            'x-kubernetes-int-or-string': true,
                          },
                          maxUnavailable: { 'x-kubernetes-int-or-string': true },
                          steps: {
                            type: 'array',
                            items: {
                              type: 'object',
                              properties: {
                                setWeight: { type: 'integer', format: 'int32' },
                                pause: {
                                  type: 'object',
                                  properties: { duration: { 'x-kubernetes-int-or-string': true } },
                                },
                              },
                            },
                          },
                          trafficRouting: {
                            type: 'object',
                            properties: {
                              plugins: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                            },
                          },
                        },
                      },
                    },
                  },
                  workloadRef: { type: 'object', nullable: true, properties: { name: { type: 'string' } } },
                  template: {
                    type: 'object',
                    'x-kubernetes-preserve-unknown-fields': true,
                    properties: { metadata: { type: 'object' } },
                  },
                },
              },
              status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      },
      { name: 'v1alpha0', served: false, storage: false, schema: { openAPIV3Schema: { type: 'object' } } },
    ],
  },
};

const rollout = {
  apiVersion: 'argoproj.io/v1alpha1',
  kind: 'Rollout',
  metadata: { name: 'api', namespace: 'dev' },
  spec: {
    replicas: 1,
    strategy: {
      canary: {
        maxSurge: '25%',
        maxUnavailable: 0,
        steps: [{ setWeight: 5 }, { pause: { duration: '90s' } }],
        trafficRouting: { plugins: { 'argoproj-labs/gatewayAPI': { httpRoute: 'api', namespace: 'dev' } } },
      },
    },
    workloadRef: null,
    template: { spec: { containers: [{ name: 'api' }] } },
  },
};

function validator() {
  const files = schemasFromCrds([rolloutCrd, { apiVersion: 'v1', kind: 'ConfigMap' }]);
  const schema = files.get('argoproj.io/rollout_v1alpha1.json');
  // kubeconform reads these as JSON schema; ajv stands in for it here (unknown x-kubernetes-* keywords allowed).
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema as object);
  return (object: unknown) =>
    validate(object) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

describe('CRD schemas for kubeconform', () => {
  it("writes one strict schema per served version, at kubeconform's {{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json", () => {
    expect([...schemasFromCrds([rolloutCrd]).keys()]).toEqual(['argoproj.io/rollout_v1alpha1.json']);
  });

  it('accepts the Rollout as we write it (int-or-string, plugin config, a null optional field)', () => {
    expect(validator()(rollout)).toEqual([]);
  });

  it('rejects a misspelt field anywhere a schema lists its properties (kubectl --validate=strict)', () => {
    // The misspellings are fields the Rollout's type does not have, so they are assigned over the typed copy.
    const misspelt = structuredClone(rollout);
    Object.assign(misspelt.spec.strategy.canary.steps[0], { setweight: 5 });
    Object.assign(misspelt.spec, { stratgy: {} });
    expect(validator()(misspelt)).toEqual([
      '/spec must NOT have additional properties',
      '/spec/strategy/canary/steps/0 must NOT have additional properties',
    ]);
  });

  it('rejects a wrong type, also in an int-or-string field', () => {
    const wrong = structuredClone(rollout);
    Object.assign(wrong.spec, { replicas: 'one' });
    Object.assign(wrong.spec.strategy.canary, { maxUnavailable: true });
    expect(validator()(wrong)).toEqual(
      expect.arrayContaining([
        '/spec/replicas must be integer',
        '/spec/strategy/canary/maxUnavailable must match exactly one schema in oneOf',
      ]),
    );
  });

  it('leaves preserve-unknown-fields subtrees open and does not rewrite field names called like keywords', () => {
    const schema = strictSchema({
      type: 'object',
      properties: {
        type: { type: 'string' },
        properties: { type: 'object', properties: { a: { type: 'string' } } },
      },
    }) as { properties: { type: unknown; properties: { additionalProperties?: unknown } } };
    expect(schema.properties.type).toEqual({ type: 'string' });
    expect(schema.properties.properties.additionalProperties).toBe(false);
    expect(
      strictSchema({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: {} }),
    ).not.toHaveProperty('additionalProperties');
  });
});

describe('sorting rendered objects for validation', () => {
  it('built-in kinds go to the API server, custom resources to kubeconform, unknown custom resources fail', () => {
    const split = splitForValidation(
      [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } },
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'b' } },
        { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', metadata: { name: 'api', namespace: 'dev' } },
        { apiVersion: 'argoproj.io/v1alpha2', kind: 'Rollout', metadata: { name: 'api', namespace: 'dev' } },
        { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'api' } },
      ],
      ['argoproj.io/rollout_v1alpha1.json'],
    );
    expect(split.builtIn.map((o) => o.kind)).toEqual(['ConfigMap', 'Deployment']);
    expect(split.custom.map((o) => o.apiVersion)).toEqual(['argoproj.io/v1alpha1']);
    expect(split.unknown).toEqual([
      'argoproj.io/v1alpha2 Rollout dev/api: no pinned CRD defines it',
      'monitoring.coreos.com/v1 ServiceMonitor api: no pinned CRD defines it',
    ]);
  });
});
