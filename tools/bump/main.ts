// bump: set one service's image tag in one environment's kustomization. release.yml runs it for dev
// after building and signing an image; people rarely need it by hand (promotion uses `promote`).
import { runCli, parseOptions } from '../lib/cli';
import {
  EnvironmentKustomization,
  imageName,
  parseEnvironment,
  parseImageTag,
  parseService,
} from '../lib/gitops';

const USAGE = `Usage: npm run bump -- --env <dev|staging|prod> --service <api|worker> --tag <git-sha> [--root <dir>]

Sets newTag of ghcr.io/opsforge/<service> under "images:" in gitops/envs/<env>/kustomization.yaml,
keeping every comment and the order of the file. Running it again with the same tag changes nothing.

  --env      environment overlay to edit
  --service  service whose image tag to set
  --tag      full 40-character git commit sha the image was built from
  --root     repository root (default: current directory)

Exit status: 0 changed or already set, 2 bad arguments, 1 the overlay could not be read or written.`;

export interface BumpResult {
  changed: boolean;
  previousTag: string | undefined;
  message: string;
}

export function bump(
  root: string,
  envName: string | undefined,
  serviceName: string | undefined,
  tagValue: string | undefined,
): BumpResult {
  const env = parseEnvironment(envName, '--env');
  const service = parseService(serviceName, '--service');
  const tag = parseImageTag(tagValue, '--tag');
  const kustomization = EnvironmentKustomization.load(root, env);
  const previousTag = kustomization.tagOf(service);
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
      root: { type: 'string' },
    });
    const result = bump(options.root ?? process.cwd(), options.env, options.service, options.tag);
    process.stdout.write(`${result.message}\n`);
  });
}
