// The named policy rules verify-gitops applies to the rendered trees, one family per file. Each rule says which
// object breaks it and what to change; each family's spec feeds every rule a broken object and expects it to fail.
import type { RenderedTree, Rule, Violation } from '../model';
import { argocdRules } from './argocd';
import { argocdUiRules } from './argocd-ui';
import { availabilityRules } from './availability';
import { canaryRules } from './canary';
import { canaryAcceptanceRules } from './canary-acceptance';
import { contractRules } from './contract';
import { environmentsRules } from './environments';
import { gatewayRules } from './gateway';
import { imagesRules } from './images';
import { podHardeningRules } from './pod-hardening';
import { promotionRules } from './promotion';
import { redisRules } from './redis';
import { redisHaRules } from './redis-ha';
import { secretsRules } from './secrets';
import { signaturesRules } from './signatures';
import { sizingRules } from './sizing';
import { syncWavesRules } from './sync-waves';
import { trafficRoutingRules } from './traffic-routing';
import { upstreamRules } from './upstream';

/** Each family file's rules, by the file's name (rules/<family>.ts, tested in rules/<family>.spec.ts). */
export const RULE_FAMILIES: Record<string, Rule[]> = {
  contract: contractRules,
  'pod-hardening': podHardeningRules,
  images: imagesRules,
  availability: availabilityRules,
  sizing: sizingRules,
  environments: environmentsRules,
  redis: redisRules,
  'redis-ha': redisHaRules,
  canary: canaryRules,
  'canary-acceptance': canaryAcceptanceRules,
  gateway: gatewayRules,
  argocd: argocdRules,
  'argocd-ui': argocdUiRules,
  secrets: secretsRules,
  upstream: upstreamRules,
  'sync-waves': syncWavesRules,
  'traffic-routing': trafficRoutingRules,
  promotion: promotionRules,
  signatures: signaturesRules,
};

export const RULES: Rule[] = Object.values(RULE_FAMILIES).flat();

export function checkRules(trees: RenderedTree[], root: string, rules: Rule[] = RULES): Violation[] {
  return rules.flatMap((rule) => rule.check(trees, root));
}
