// bump: set one service's image tag in one environment's kustomization. release.yml runs it for dev
// after building and signing an image; people rarely need it by hand (promotion uses `promote`).
import { spawnSync } from 'node:child_process';
import { runCli, parseOptions } from '../lib/cli';
import {
  EnvironmentKustomization,
  imageName,
  parseEnvironment,
  parseImageTag,
  parseService,
} from '../lib/gitops';

const USAGE = `Usage: npm run bump -- --env <dev|staging|prod> --service <api|worker> --tag <git-sha> [--only-forward]
                    [--root <dir>]

Sets newTag of ghcr.io/opsforge/<service> under "images:" in gitops/envs/<env>/kustomization.yaml,
keeping every comment and the order of the file. Running it again with the same tag changes nothing.

  --env          environment overlay to edit
  --service      service whose image tag to set
  --tag          full 40-character git commit sha the image was built from
  --only-forward leave the tag alone when the environment already runs a later commit of this repository
                 (one that contains --tag): a re-run of an old release must not take it back in time
  --root         repository root (default: current directory)

Exit status: 0 changed or already set, 2 bad arguments, 1 the overlay could not be read or written.`;

export interface BumpResult {
  changed: boolean;
  previousTag: string | undefined;
  message: string;
}

/** True when `later` is a commit of the repository at `root` whose history contains `earlier`. */
function containsCommit(root: string, later: string, earlier: string): boolean {
  const git = (...args: string[]) =>
    spawnSync('git', ['-C', root, ...args], { stdio: 'ignore' }).status === 0;
  return (
    git('cat-file', '-e', `${later}^{commit}`) &&
    git('cat-file', '-e', `${earlier}^{commit}`) &&
    git('merge-base', '--is-ancestor', earlier, later)
  );
}

export function bump(
  root: string,
  envName: string | undefined,
  serviceName: string | undefined,
  tagValue: string | undefined,
  options: { onlyForward?: boolean } = {},
): BumpResult {
  const env = parseEnvironment(envName, '--env');
  const service = parseService(serviceName, '--service');
  const tag = parseImageTag(tagValue, '--tag');
  const kustomization = EnvironmentKustomization.load(root, env);
  const previousTag = kustomization.tagOf(service);
  if (
    options.onlyForward &&
    previousTag !== undefined &&
    previousTag !== tag &&
    containsCommit(root, previousTag, tag)
  ) {
    return {
      changed: false,
      previousTag,
      message: `${env}: ${imageName(service)} already at ${previousTag}, a later commit than ${tag}; nothing to change`,
    };
  }
  const changed = kustomization.setTag(service, tag);
  kustomization.save();
  const message = changed
    ? `${env}: ${imageName(service)} ${previousTag ?? '(unset)'} -> ${tag}`
    : `${env}: ${imageName(service)} already at ${tag}; nothing to change`;
  return { changed, previousTag, message };
}

if (require.main === module) {
  void runCli('bump', USAGE, (argv) => {
    const options = parseOptions(argv, {
      env: { type: 'string' },
      service: { type: 'string' },
      tag: { type: 'string' },
      'only-forward': { type: 'boolean' },
      root: { type: 'string' },
    });
    const result = bump(options.root ?? process.cwd(), options.env, options.service, options.tag, {
      onlyForward: options['only-forward'],
    });
    process.stdout.write(`${result.message}\n`);
  });
}
