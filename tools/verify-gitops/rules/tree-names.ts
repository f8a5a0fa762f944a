// The committed trees the rule specs break, by the `source` renderAll gives them.
export const PROD = 'gitops/envs/prod';
export const DEV = 'gitops/envs/dev';
export const STAGING = 'gitops/envs/staging';
export const ARGOCD = 'argocd';
