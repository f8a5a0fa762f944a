// Argo Rollouts' AnalysisTemplate arguments: `{{ args.NAME }}` placeholders in a metric, replaced the way the
// controller's ResolveArgs does (utils/template/template.go): every `{{...}}` tag must name a known arg.

/** Every `{{ args.NAME }}` a text uses, each name once, in order of appearance. */
export function argNames(text: string): string[] {
  return [...new Set([...text.matchAll(/\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g)].map((match) => match[1]))];
}

/**
 * The text with each `{{ args.NAME }}` replaced by `valueOf(NAME)`; a tag that is not `args.NAME`, or whose value
 * is undefined, is left as written and listed in `unresolved`.
 */
export function substituteArgs(
  text: string,
  valueOf: (name: string) => string | undefined,
): { text: string; unresolved: string[] } {
  const unresolved: string[] = [];
  const substituted = text.replace(/\{\{([^}]*)\}\}/g, (whole, tag: string) => {
    const key = tag.trim();
    const value = key.startsWith('args.') ? valueOf(key.slice('args.'.length)) : undefined;
    if (value !== undefined) return value;
    unresolved.push(whole);
    return whole;
  });
  return { text: substituted, unresolved };
}
