// The upstream ledger (upstream.yaml): what was read upstream, at the pinned tag, about every version the tree
// pins and every behaviour it relies on. This module parses it, checks its shape (strictly: a misspelt key is an
// error, not a silently missing fact) and flattens its sections, so rules look facts up by id.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Where the ledger lives in a checkout (rules read the one of the checkout they verify). */
export const UPSTREAM_LEDGER_FILE = 'tools/verify-gitops/upstream.yaml';
export const UPSTREAM_LEDGER_PATH = join(__dirname, 'upstream.yaml');

const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;

const sourceSchema = z.strictObject({
  /** GitHub owner/name of the upstream repository. */
  repository: z.string().regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/, 'must be owner/name'),
  /** The tag (or, where a project does not tag, a full commit sha) that was read. */
  tag: z.string().min(1),
  path: z.string().min(1),
  lines: z
    .string()
    .regex(/^[0-9]+(-[0-9]+)?$/, 'must be a line number or a range n-m')
    .optional(),
});
export type UpstreamSource = z.infer<typeof sourceSchema>;

const fact = z.string().min(10, 'state the fact in one line');

const chartSchema = z
  .strictObject({
    repoURL: z.url(),
    version: z.string().regex(SEMVER, 'a chart version is x.y.z'),
    released: z.array(z.string().regex(SEMVER, 'a chart version is x.y.z')).min(1),
    source: sourceSchema,
    fact,
  })
  .refine((chart) => chart.released.includes(chart.version), {
    message: 'version must be one of released: pin only a version whose release was seen upstream',
    path: ['version'],
  })
  .refine((chart) => chart.source.tag.endsWith(chart.version), {
    message: 'source.tag must be the release tag of version (read the chart at the version it pins)',
    path: ['source', 'tag'],
  });
export type ChartFact = z.infer<typeof chartSchema>;

const imageSchema = z.strictObject({
  image: z.string().regex(/^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._-]+)+$/, 'registry/repository, without a tag'),
  tag: z.string().min(1),
  source: sourceSchema,
  fact,
});
export type ImageFact = z.infer<typeof imageSchema>;

const pluginSchema = z.strictObject({
  name: z.string().min(1),
  version: z.string().min(1),
  image: z.string().optional(),
  source: sourceSchema,
  fact,
});
export type PluginFact = z.infer<typeof pluginSchema>;

const toolSchema = z.strictObject({
  version: z.string().min(1),
  source: sourceSchema,
  fact,
});
export type ToolFact = z.infer<typeof toolSchema>;

const behaviourSchema = z.strictObject({
  fact,
  source: sourceSchema,
  quote: z.string().min(1).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type BehaviourFact = z.infer<typeof behaviourSchema>;

const id = z.string().regex(/^[a-z0-9][a-z0-9.-]*$/, 'ids are lower-case words joined by "-"');

const sectionSchema = z.strictObject({
  charts: z.record(id, chartSchema).optional(),
  images: z.record(id, imageSchema).optional(),
  plugins: z.record(id, pluginSchema).optional(),
  tools: z.record(id, toolSchema).optional(),
  behaviours: z.record(id, behaviourSchema).optional(),
});

const ledgerSchema = z.record(id, sectionSchema);

type Kind = 'charts' | 'images' | 'plugins' | 'tools' | 'behaviours';
const KINDS: readonly Kind[] = ['charts', 'images', 'plugins', 'tools', 'behaviours'];

/** A fact together with the ledger section that holds it. */
export type Entry<T> = T & { section: string; id: string };

export interface UpstreamLedger {
  sections: string[];
  charts: Record<string, Entry<ChartFact>>;
  images: Record<string, Entry<ImageFact>>;
  plugins: Record<string, Entry<PluginFact>>;
  tools: Record<string, Entry<ToolFact>>;
  behaviours: Record<string, Entry<BehaviourFact>>;
  /** The behaviour a rule relies on; throws when the ledger does not record it. */
  behaviour(id: string): Entry<BehaviourFact>;
}

export class LedgerError extends Error {
  override name = 'LedgerError';
}

/** Parses and checks a ledger's text; every problem is reported at once, each with its path in the file. */
export function parseLedger(text: string, origin = 'upstream.yaml'): UpstreamLedger {
  const parsed = ledgerSchema.safeParse(parseYaml(text) ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new LedgerError(`${origin} is not a valid upstream ledger:\n${problems.join('\n')}`);
  }
  const flat = {
    charts: {},
    images: {},
    plugins: {},
    tools: {},
    behaviours: {},
  } as Record<Kind, Record<string, Entry<object>>>;
  const duplicates: string[] = [];
  for (const [section, content] of Object.entries(parsed.data)) {
    for (const kind of KINDS) {
      for (const [key, value] of Object.entries(content[kind] ?? {})) {
        const earlier = flat[kind][key];
        if (earlier) duplicates.push(`  ${kind} "${key}" is in both ${earlier.section} and ${section}`);
        flat[kind][key] = { ...value, section, id: key };
      }
    }
  }
  if (duplicates.length > 0) {
    throw new LedgerError(`${origin}: an id must be unique across sections:\n${duplicates.join('\n')}`);
  }
  const ledger = flat as unknown as Omit<UpstreamLedger, 'sections' | 'behaviour'>;
  return {
    ...ledger,
    sections: Object.keys(parsed.data),
    behaviour(key: string) {
      const found = ledger.behaviours[key];
      if (!found) {
        throw new LedgerError(
          `${origin} records no behaviour "${key}", which a rule relies on: read it upstream and add it`,
        );
      }
      return found;
    },
  };
}

export function loadLedger(path = UPSTREAM_LEDGER_PATH): UpstreamLedger {
  if (!existsSync(path))
    throw new LedgerError(`no upstream ledger at ${path}: the rules that read it cannot run`);
  return parseLedger(readFileSync(path, 'utf8'), path);
}

/** The chart the ledger records for a Helm repository URL and chart name, if any. */
export function chartFact(
  ledger: UpstreamLedger,
  repoURL: string,
  chart: string,
): Entry<ChartFact> | undefined {
  const found = ledger.charts[chart];
  return found && found.repoURL.replace(/\/+$/, '') === repoURL.replace(/\/+$/, '') ? found : undefined;
}
