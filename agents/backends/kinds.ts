// The backend kinds, in the order choices list them. Apart from registry.ts (which creates backends and so
// imports them) so that a backend, and the Backend contract it implements, can name its kind without a cycle.
export const BACKEND_KINDS = ['sim', 'docker'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export const isBackendKind = (k: string): k is BackendKind => (BACKEND_KINDS as readonly string[]).includes(k);
