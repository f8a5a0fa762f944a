// Kubernetes semantics the tools share: object names, label selectors, resource quantities. Objects are plain
// parsed YAML; verify-gitops' schema check (kubernetes-models) is what guarantees their shape.

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered YAML is untyped until the schema check; readers check fields defensively */
export type K8sObject = Record<string, any>;

export function objectName(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name ?? '<unnamed>'}`;
}

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions); an empty selector matches all. */
export function selectorMatches(selector: K8sObject | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(labels, expression.key);
    const values: string[] = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (!present || !values.includes(labels[expression.key])) return false;
        break;
      case 'NotIn':
        if (present && values.includes(labels[expression.key])) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** A Service's selector is a plain label map; an empty one selects no pod (its endpoints are managed by hand). */
export function serviceSelects(service: K8sObject, labels: Record<string, string>): boolean {
  const selector: Record<string, string> = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

const QUANTITY_SUFFIX: Record<string, number> = {
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** A Kubernetes resource quantity ("250m", "1", "128Mi") as a number of base units; NaN if malformed. */
export function parseQuantity(value: unknown): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value ?? '').trim());
  if (!match) return Number.NaN;
  return Number(match[1]) * QUANTITY_SUFFIX[match[2] ?? ''];
}
