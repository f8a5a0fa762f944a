import { parser } from '@prometheus-io/lezer-promql';

type SyntaxNode = ReturnType<typeof parser.parse>['topNode'];

export interface ParsedQuery {
  /** Syntax errors as `at <offset>: <text around it>`; empty when the expression parses. */
  errors: string[];
  /** Every metric name the expression selects, by name or by a `__name__="..."` matcher. */
  metrics: string[];
  /** Every label matcher of a selector that names its metric, with the metric it applies to. */
  matchers: LabelMatcher[];
}

export interface LabelMatcher {
  metric: string;
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** Parses PromQL with Prometheus' own lezer grammar and lists the metric names it reads. */
export function parsePromQL(expr: string): ParsedQuery {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const metrics = new Set<string>();
  const matchers: LabelMatcher[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push(
          `at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.to + 20))}`,
        );
      }
      if (node.name === 'VectorSelector') {
        const identifier = node.node.getChild('Identifier');
        if (identifier) {
          const metric = expr.slice(identifier.from, identifier.to);
          metrics.add(metric);
          matchers.push(...selectorMatchers(expr, node.node, metric));
        }
      }
      if (node.name === 'UnquotedLabelMatcher' || node.name === 'QuotedLabelMatcher') {
        const label = node.node.getChild('LabelName') ?? node.node.getChild('QuotedLabelName');
        const op = node.node.getChild('MatchOp');
        const value = node.node.getChild('StringLiteral');
        if (label && op && value && expr.slice(label.from, label.to).replace(/"/g, '') === '__name__') {
          if (expr.slice(op.from, op.to) === '=') metrics.add(expr.slice(value.from + 1, value.to - 1));
        }
      }
    },
  });
  return { errors, metrics: [...metrics].sort(), matchers };
}

function selectorMatchers(expr: string, selector: SyntaxNode, metric: string): LabelMatcher[] {
  const found: LabelMatcher[] = [];
  const cursor = selector.cursor();
  const text = (n: SyntaxNode) => expr.slice(n.from, n.to);
  do {
    const n = cursor.node;
    if (n.name !== 'UnquotedLabelMatcher' && n.name !== 'QuotedLabelMatcher') continue;
    const label = n.getChild('LabelName') ?? n.getChild('QuotedLabelName');
    const op = n.getChild('MatchOp');
    const value = n.getChild('StringLiteral');
    if (!label || !op || !value) continue;
    found.push({
      metric,
      label: text(label).replace(/"/g, ''),
      op: text(op).replace(/\s/g, '') as LabelMatcher['op'],
      value: JSON.parse(text(value).replace(/^'|'$/g, '"')) as string,
    });
  } while (cursor.next() && cursor.from < selector.to);
  return found;
}

/**
 * Grafana's template variables are not PromQL: replace them with what Grafana would send, so the rest of the
 * expression can be parsed as Prometheus will see it. Variables inside label values stay as they are.
 */
export function expandGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '5m')
    .replace(/\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$__range|\$\{__range\}/g, '1h');
}

/** `label_values(<selector>, <label>)` of a Grafana query variable: the selector is PromQL, the rest is not. */
export function grafanaVariableSelector(query: string): string | undefined {
  const match = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$/.exec(query.trim());
  return match?.[1];
}
