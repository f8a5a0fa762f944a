// Each secrets rule against a copy of the rendered tree broken in the one way the rule exists to catch.
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { isMapping, ofKind } from '../../lib/kubernetes';
import { DEV } from './tree-names';
import { expectViolation, present, rendered, run, testRuleFamily } from './broken-trees';
import { secretsRules } from './secrets';

testRuleFamily(secretsRules, {
  'no-secret-data-in-git': () => {
    const trees = structuredClone(rendered);
    present(
      trees.find((t) => t.source === DEV),
      DEV,
    ).objects.push({
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
    const observability = present(
      inline.find((t) => t.source === 'observability'),
      'observability tree',
    );
    const data = present(
      ofKind(observability, 'Secret').find((o) => o.metadata?.name === 'alertmanager-opsforge')?.data,
      'alertmanager-opsforge data',
    );
    const alertmanagerConfig: unknown = parseYaml(
      Buffer.from(data['alertmanager.yaml'].replace(/\s/g, ''), 'base64').toString('utf8'),
    );
    const receivers = isMapping(alertmanagerConfig) ? alertmanagerConfig.receivers : undefined;
    if (!Array.isArray(receivers)) throw new Error('alertmanager.yaml has no receivers list');
    const receiverList: unknown[] = receivers;
    receiverList.push({
      name: 'inline-slack',
      slack_configs: [{ api_url: 'https://hooks.slack.com/services/T0/B0/secret' }],
    });
    data['alertmanager.yaml'] = Buffer.from(stringifyYaml(alertmanagerConfig)).toString('base64');
    expectViolation(
      run('no-secret-data-in-git', inline),
      'observability: Secret/alertmanager-opsforge',
      /inline credential at receivers\[\d+\]\.slack_configs\[0\]\.api_url: use api_url_file/,
    );
  },
});
