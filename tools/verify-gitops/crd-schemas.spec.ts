// The saved upstream CRD schemas (crd-schemas/) hold the redis-operator's custom resources to what the operator
// at the pinned tag accepts, strictly: a misspelt field fails here instead of being pruned by the API server.
import { join } from 'node:path';
import { ofKind } from '../lib/kubernetes';
import { kustomizeObjects } from '../lib/kustomize';
import { crdSchemaProblem } from './crd-schemas';
import { mappingAt, present } from './rules/broken-trees';

const repositoryRoot = join(__dirname, '..', '..');

describe('redis-operator custom resources against the upstream CRD schemas', () => {
  const prod = { objects: kustomizeObjects(join(repositoryRoot, 'gitops/envs/prod')) };
  const replication = present(ofKind(prod, 'RedisReplication')[0], 'RedisReplication in prod');
  const sentinel = present(ofKind(prod, 'RedisSentinel')[0], 'RedisSentinel in prod');

  it('accepts the committed RedisReplication and RedisSentinel', () => {
    expect(crdSchemaProblem(replication)).toBeUndefined();
    expect(crdSchemaProblem(sentinel)).toBeUndefined();
  });

  it('rejects a misspelt field, a wrong type and a missing required field', () => {
    const misspelt = structuredClone(replication);
    mappingAt(misspelt, 'spec.redisExporter').enable = true;
    expect(crdSchemaProblem(misspelt)).toMatch(
      /\/spec\/redisExporter must NOT have additional properties \(enable\)/,
    );
    const wrongType = structuredClone(sentinel);
    mappingAt(wrongType, 'spec').clusterSize = 'three';
    expect(crdSchemaProblem(wrongType)).toMatch(/\/spec\/clusterSize must be integer/);
    const incomplete = structuredClone(replication);
    delete mappingAt(incomplete, 'spec').kubernetesConfig;
    expect(crdSchemaProblem(incomplete)).toMatch(/must have required property 'kubernetesConfig'/);
  });

  it('has no schema for kinds it was not given, so they stay with the kubernetes-models packages', () => {
    expect(crdSchemaProblem({ apiVersion: 'apps/v1', kind: 'StatefulSet' })).toBeNull();
  });
});
