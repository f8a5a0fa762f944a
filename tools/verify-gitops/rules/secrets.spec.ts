// Each secrets rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { K8sObject, RenderedTree } from '../model';
import { DEV } from './tree-names';
import { expectViolation, rendered, run, testRuleFamily } from './broken-trees';
import { secretsRules } from './secrets';

testRuleFamily(secretsRules, {
  'no-secret-data-in-git': () => {
    const trees = structuredClone(rendered);
    (trees.find((t) => t.source === DEV) as RenderedTree).objects.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'redis-password', namespace: 'dev' },
      stringData: { password: 'hunter2' },
    });
    expectViolation(
      run('no-secret-data-in-git', trees),
      'gitops/envs/dev: Secret/redis-password',
      /carries secret data in git/,
    );
    // Alertmanager's configuration Secret passes only while every credential is a *_file.
    const inline = structuredClone(rendered);
    const observability = inline.find((t) => t.source === 'observability') as RenderedTree;
    const config = observability.objects.find(
      (o) => o.kind === 'Secret' && o.metadata.name === 'alertmanager-opsforge',
    ) as K8sObject;
    const alertmanagerConfig = parseYaml(
      Buffer.from(config.data['alertmanager.yaml'].replace(/\s/g, ''), 'base64').toString('utf8'),
    ) as K8sObject;
    alertmanagerConfig.receivers.push({
      name: 'inline-slack',
      slack_configs: [{ api_url: 'https://hooks.slack.com/services/T0/B0/secret' }],
    });
    config.data['alertmanager.yaml'] = Buffer.from(stringifyYaml(alertmanagerConfig)).toString('base64');
    expectViolation(
      run('no-secret-data-in-git', inline),
      'observability: Secret/alertmanager-opsforge',
      /inline credential at receivers\[\d+\]\.slack_configs\[0\]\.api_url: use api_url_file/,
    );
  },
});
