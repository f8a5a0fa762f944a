// bump: write one service's image, by git sha tag and digest, into gitops/images, the component every
// environment includes. release.yml runs it after an image was built, scanned and signed; dev follows main,
// so the commit it makes is dev's deployment. Staging and prod see it only when promoted to that commit.
import { spawnSync } from 'node:child_process';
import { parseOptions, runCli, switchFlags, valueFlags } from '../lib/cli';
import {
  IMAGES_COMPONENT,
  ImagesComponent,
  imageName,
  imageReference,
  parseImageDigest,
  parseImageTag,
  parseService,
} from '../lib/gitops';

const USAGE = `Usage: npm run bump -- --service <api|worker> --tag <git-sha> --digest sha256:<hex> [--only-forward]
                    [--root <dir>]

Sets newTag and digest of ghcr.io/opsforge/<service> under "images:" in ${IMAGES_COMPONENT}, keeping
every comment and the order of the file. Running it again with the same values changes nothing. The digest
is the one the build reported (docker/build-push-action's digest output), never looked up from the tag.

  --service      service whose image to set
  --tag          full 40-character git commit sha the image was built from
  --digest       the image's digest, sha256:<64 hex>, as the build pushed it
  --only-forward leave the image alone when it already names a later commit of this repository (one that
                 contains --tag): a re-run of an old release must not take dev back in time
  --root         repository root (default: current directory)

Exit status: 0 changed or already set, 2 bad arguments, 1 the file could not be read or written.`;

/** The flags `npm run bump` takes; the workflows' bump calls are checked against them (cluster-workflows.spec). */
export const BUMP_FLAGS = {
  ...valueFlags('service', 'tag', 'digest'),
  ...switchFlags('only-forward'),
  ...valueFlags('root'),
};

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
  serviceName: string | undefined,
  tagValue: string | undefined,
  digestValue: string | undefined,
  options: { onlyForward?: boolean } = {},
): BumpResult {
  const service = parseService(serviceName, '--service');
  const tag = parseImageTag(tagValue, '--tag');
  const digest = parseImageDigest(digestValue, '--digest');
  const images = ImagesComponent.load(root);
  const previous = images.releaseOf(service);
  const previousTag = previous?.tag;
  if (
    options.onlyForward &&
    previousTag !== undefined &&
    previousTag !== tag &&
    containsCommit(root, previousTag, tag)
  ) {
    return {
      changed: false,
      previousTag,
      message: `${imageName(service)} already at ${previousTag}, a later commit than ${tag}; nothing to change`,
    };
  }
  const changed = images.setRelease(service, tag, digest);
  images.save();
  const message = changed
    ? `${previous ? imageReference(service, previous) : `${imageName(service)} (unset)`} -> ${imageReference(service, { tag, digest })}`
    : `${imageReference(service, { tag, digest })} already set; nothing to change`;
  return { changed, previousTag, message };
}

if (require.main === module) {
  void runCli('bump', USAGE, (argv) => {
    const options = parseOptions(argv, BUMP_FLAGS);
    const result = bump(options.root ?? process.cwd(), options.service, options.tag, options.digest, {
      onlyForward: options['only-forward'],
    });
    process.stdout.write(`${result.message}\n`);
  });
}
