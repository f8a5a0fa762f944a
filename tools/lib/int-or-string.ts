// Kubernetes' intstr.IntOrString, read as Argo Rollouts reads its counts and limits (IntValue()): a number is
// itself, a string of an integer is that integer, and any other string (an unresolved template arg, or an integer
// with spaces around it: Go's strconv.Atoi trims nothing) is 0. Upstream ledger: rollouts-intvalue-is-atoi.
export type IntOrString = number | string;

/** intstr.IntOrString.IntValue(); undefined when the field is absent. */
export function intValue(value: IntOrString | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  return /^[+-]?\d+$/.test(value) ? Number.parseInt(value, 10) : 0;
}
