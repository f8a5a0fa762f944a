// The saved upstream CRD schemas (crd-schemas/) hold the redis-operator's custom resources to what the operator
// at the pinned tag accepts, strictly: a misspelt field fails here instead of being pruned by the API server.
import { kustomizeBuild } from '../lib/kustomize';
import { join } from 'node:path';
import { crdSchemaProblem } from './crd-schemas';
import type { K8sObject } from './model';

const repositoryRoot = join(__dirname, '..', '..');

function renderedProd(): K8sObject[] {
  return kustomizeBuild(join(repositoryRoot, 'gitops/envs/prod'));
}

describe('redis-operator custom resources against the upstream CRD schemas', () => {
  const objects = renderedProd();
  const replication = objects.find((o) => o.kind === 'RedisReplication') as K8sObject;
  const sentinel = objects.find((o) => o.kind === 'RedisSentinel') as K8sObject;

  it('accepts the committed RedisReplication and RedisSentinel', () => {
    expect(crdSchemaProblem(replication)).toBeUndefined();
    expect(crdSchemaProblem(sentinel)).toBeUndefined();
  });

  it('rejects a misspelt field, a wrong type and a missing required field', () => {
    const misspelt = structuredClone(replication);
    misspelt.spec.redisExporter.enable = true;
    expect(crdSchemaProblem(misspelt)).toMatch(
      /\/spec\/redisExporter must NOT have additional properties \(enable\)/,
    );
    const wrongType = structuredClone(sentinel);
    wrongType.spec.clusterSize = 'three';
    expect(crdSchemaProblem(wrongType)).toMatch(/\/spec\/clusterSize must be integer/);
    const incomplete = structuredClone(replication);
    delete incomplete.spec.kubernetesConfig;
    expect(crdSchemaProblem(incomplete)).toMatch(/must have required property 'kubernetesConfig'/);
  });

  it('has no schema for kinds it was not given, so they stay with the kubernetes-models packages', () => {
    expect(crdSchemaProblem({ apiVersion: 'apps/v1', kind: 'StatefulSet' })).toBeNull();
  });
});
