// No secret material in git: Secrets come from the secrets controller; Alertmanager's configuration, the one
// Secret rendered from git, reads every credential from a mounted file.
import type { ISecret } from 'kubernetes-models/v1/Secret';
import { parse as parseYaml } from 'yaml';
import { ofKind } from '../../lib/kubernetes';
import { type RenderedTree, where } from '../model';
import { argocdTrees, defineRule } from './define-rule';
import { valueAt } from './ledger';

/** Alertmanager configuration keys that hold a credential (or a URL with one in it) unless given as *_file. */
const ALERTMANAGER_CREDENTIAL_KEY = /(^|_)(url|key|secret|password|token|credentials)$/;

/** Paths of inline credentials in an Alertmanager configuration. */
function inlineAlertmanagerCredentials(value: unknown, path: string): string[] {
  if (Array.isArray(value))
    return value.flatMap((item, index) => inlineAlertmanagerCredentials(item, `${path}[${index}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) =>
    ALERTMANAGER_CREDENTIAL_KEY.test(key) && typeof child === 'string'
      ? [`${path}.${key}`.replace(/^\./, '')]
      : inlineAlertmanagerCredentials(child, `${path}.${key}`),
  );
}

/** The Secret kube-prometheus-stack's Alertmanager reads its configuration from (alertmanagerSpec.configSecret). */
function alertmanagerConfigSecret(trees: RenderedTree[]): string | undefined {
  const kps = argocdTrees(trees)
    .flatMap((tree) => ofKind(tree, 'Application'))
    .find((app) => app.spec?.source?.chart === 'kube-prometheus-stack');
  const configSecret = valueAt(
    kps?.spec?.source?.helm?.valuesObject ?? {},
    'alertmanager.alertmanagerSpec.configSecret',
  );
  return typeof configSecret === 'string' ? configSecret : undefined;
}

function secretValue(secret: ISecret, key: string): string | undefined {
  if (secret.stringData?.[key] !== undefined) return String(secret.stringData[key]);
  if (secret.data?.[key] !== undefined)
    return Buffer.from(String(secret.data[key]).replace(/\s/g, ''), 'base64').toString('utf8');
  return undefined;
}

const noSecretDataInGit = defineRule({
  name: 'no-secret-data-in-git',
  summary:
    "no Secret with data is rendered from git (secrets come from the secrets controller); the one exception, Alertmanager's configuration, reads every credential from a file",
  check({ trees, flag }) {
    const configSecret = alertmanagerConfigSecret(trees);
    for (const tree of trees) {
      for (const secret of ofKind(tree, 'Secret')) {
        const keys = [...Object.keys(secret.data ?? {}), ...Object.keys(secret.stringData ?? {})];
        if (keys.length === 0) continue;
        // The prometheus-operator takes Alertmanager's configuration only from a Secret; it is configuration,
        // and stays so as long as every receiver reads its URL or key from a mounted file.
        if (secret.metadata?.name === configSecret && keys.every((k) => k === 'alertmanager.yaml')) {
          let config: unknown;
          try {
            config = parseYaml(secretValue(secret, 'alertmanager.yaml') ?? '');
          } catch (error) {
            flag(
              where(tree, secret),
              `alertmanager.yaml does not parse: ${(error as Error).message.split('\n')[0]}`,
            );
            continue;
          }
          for (const path of inlineAlertmanagerCredentials(config, '')) {
            flag(
              where(tree, secret),
              `alertmanager.yaml has an inline credential at ${path}: use ${path.split('.').pop()}_file pointing into the alertmanager-receivers Secret`,
            );
          }
          continue;
        }
        flag(
          where(tree, secret),
          'carries secret data in git: generate it in the cluster with an ExternalSecret (see gitops/base/redis/password.yaml)',
        );
      }
    }
  },
});

export const secretsRules = [noSecretDataInGit];
