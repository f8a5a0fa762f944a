// Image references that cannot move under a deployed release: our images by git sha tag and digest (the
// kubelet pulls the digest, so a tag pushed again changes nothing), third-party ones by version or digest,
// also inside the platform charts' values.
import {
  IMAGE_DIGEST_PATTERN,
  IMAGE_REPOSITORY,
  IMAGE_TAG_PATTERN,
  IMAGES_COMPONENT,
} from '../../lib/gitops';
import { containersOf, isMapping, WORKLOAD_KINDS } from '../../lib/kubernetes';
import { where } from '../model';
import { defineRule, eachObjectOfKind } from './define-rule';
import { sourcesOf } from './argocd';

const THIRD_PARTY_TAG = /^v?[0-9]+\.[0-9]+\.[0-9]+([-+.][0-9A-Za-z.-]+)?$/;

/** Why an image reference can move under us, or undefined when it is immutable. */
function movingImageProblem(image: string): string | undefined {
  const [repository, digest] = image.split('@');
  const lastColon = repository.lastIndexOf(':');
  const tag = lastColon > repository.lastIndexOf('/') ? repository.slice(lastColon + 1) : undefined;
  const name = tag === undefined ? repository : repository.slice(0, lastColon);
  if (name.startsWith(`${IMAGE_REPOSITORY}/`)) {
    if (!tag || !IMAGE_TAG_PATTERN.test(tag)) {
      return `must be tagged with the 40-character git sha that built it: set newTag under images: in ${IMAGES_COMPONENT}`;
    }
    if (!digest || !IMAGE_DIGEST_PATTERN.test(digest)) {
      return `must name the digest release.yml pushed (name:tag@sha256:…), or a pushed-again tag changes what runs: set digest under images: in ${IMAGES_COMPONENT}`;
    }
  } else if (!digest && (!tag || !THIRD_PARTY_TAG.test(tag))) {
    return 'must name a full release version (x.y.z) or a digest, never latest or a moving major/minor tag';
  }
  return undefined;
}

/** Every `image: <string>` inside Helm values (e.g. an init container a platform chart is given). */
function imagesInValues(value: unknown, path: string): { image: string; path: string }[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => imagesInValues(item, `${path}[${index}]`));
  if (!isMapping(value)) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === 'image' && typeof child === 'string'
      ? [{ image: child, path: `${path}.image` }]
      : imagesInValues(child, `${path}.${key}`),
  );
}

const immutableImageTags = defineRule({
  name: 'immutable-image-tags',
  summary: `images of ${IMAGE_REPOSITORY} by full git sha tag and sha256 digest, third-party images (also in platform chart values) by full version or digest; never latest`,
  check({ trees, flag }) {
    for (const { tree, object: workload } of eachObjectOfKind(trees, ...WORKLOAD_KINDS)) {
      for (const { container, label } of containersOf(workload)) {
        const image = container.image ?? '';
        const problem = movingImageProblem(image);
        if (problem) flag(where(tree, workload, label), `image "${image}" ${problem}`);
      }
    }
    for (const { tree, object: application } of eachObjectOfKind(trees, 'Application')) {
      for (const source of sourcesOf(application.spec)) {
        for (const { image, path } of imagesInValues(source.helm?.valuesObject, 'valuesObject')) {
          const problem = movingImageProblem(image);
          if (problem) flag(where(tree, application, path), `image "${image}" ${problem}`);
        }
      }
    }
  },
});

export const imagesRules = [immutableImageTags];
