/**
 * The console's view of the Responder API: the same routes the CLI uses, with the bearer token the person
 * entered. Answers are typed only as far as the console reads them, and read defensively: alert fields are
 * sender text and are only ever shown as text.
 */

import type { IncidentSummary } from '../../common/incident-view';

export type { IncidentSummary };

export const ROLES = ['intake', 'responder', 'investigator', 'custodian'] as const;
export type Role = (typeof ROLES)[number];

export interface Session {
  token: string;
  name: string;
  role: Role;
}

export const canRead = (role: Role) => role === 'responder' || role === 'investigator';
export const canAct = (role: Role) => role === 'responder';
export const canReadEvidence = (role: Role) => role === 'investigator';

export interface Step {
  name: string;
  kind: string;
  state: string;
  startedAt?: string;
  endedAt?: string;
  error?: string;
  artifacts: Array<{ name: string; key: string; size: number; sha256: string }>;
  notes: string[];
  decision?: { approved: boolean; by: string; role?: string; at: string; note?: string };
  verification?: { verdict: string; reason: string };
}

export interface Status {
  incidentId: string;
  phase: string;
  severity: string;
  target: { cluster: string; namespace?: string; pod?: string; container?: string; node?: string };
  playbook?: string;
  dryRun: boolean;
  startedAt: string;
  endedAt?: string;
  steps: Step[];
  alertCount: number;
  acknowledgedBy?: string;
  resolvedBy?: string;
  notes?: string[];
  tamper?: Array<{ step: string; kind: string; detail: string }>;
  notifications?: Array<{ action: string; notifier: string; step?: string; at: string; state: string; error?: string }>;
  storm?: boolean;
  outcome?: string;
  /** Alerts that arrived while it closed: they open the next incident (`IncidentDetail.nextIncidentId`). */
  handedOver?: number;
}

export interface AlertRecord {
  alert: {
    id: string;
    source: string;
    rule: string;
    severity: string;
    summary: string;
    observedAt: string;
    receivedAt: string;
    labels?: Record<string, string>;
    status: string;
  };
  count: number;
  lastSeenAt: string;
  resends?: number;
}

export interface IncidentDetail {
  status: Status;
  alerts: AlertRecord[];
  running: boolean;
  progress: Array<{ activity: string; details: unknown }>;
  workflowId: string;
  runId: string;
  temporalUiUrl?: string;
  nextIncidentId?: string;
}

export interface EvidenceListing {
  incidentId: string;
  keyId: string;
  manifestSha256: string;
  expiresAt: string;
  artifacts: Array<{ name: string; path: string; size: number; sha256: string; contentType: string }>;
  custodyKey: string;
}

export type Action = 'acknowledge' | 'approve' | 'reject' | 'resolve' | 'cancel';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Where the token lives between page loads of this tab: sessionStorage only (no cookie, no URL). */
const TOKEN_KEY = 'holdfast.token';
export const storedToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const storeToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** A bound on how long the console waits for one answer, so a hung request cannot freeze polling. */
const REQUEST_TIMEOUT_MS = 20_000;
const BUNDLE_TIMEOUT_MS = 15 * 60_000;

async function request(
  token: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<Response> {
  const response = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) {
    // The API answers problems as application/problem+json with a `detail`; show that (as text), bounded.
    let detail = response.statusText;
    try {
      const problem = (await response.json()) as { detail?: unknown; title?: unknown };
      if (typeof problem.detail === 'string') detail = problem.detail;
      else if (typeof problem.title === 'string') detail = problem.title;
    } catch {
      // Not JSON: keep the status text.
    }
    throw new ApiError(response.status, `${response.status}: ${detail.slice(0, 300)}`);
  }
  return response;
}

export async function getJson<T>(token: string, path: string): Promise<T> {
  return (await (await request(token, 'GET', path)).json()) as T;
}

export async function whoAmI(token: string): Promise<{ name: string; role: Role }> {
  const me = await getJson<{ name: string; role: Role }>(token, '/v1/me');
  if (!ROLES.includes(me.role)) throw new ApiError(0, 'the API answered an unknown role');
  return me;
}

export interface ListFilters {
  status?: string;
  severity?: string;
  source?: string;
  cluster?: string;
  namespace?: string;
  pod?: string;
}

export function listIncidents(
  token: string,
  filters: ListFilters,
  pageToken?: string,
): Promise<{ incidents: IncidentSummary[]; nextPageToken?: string }> {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
  query.set('pageSize', '50');
  if (pageToken) query.set('pageToken', pageToken);
  return getJson(token, `/v1/incidents?${query.toString()}`);
}

/** Incident ids as the API issues them; anything else never becomes part of a request path. */
export const INCIDENT_ID = /^inc-[0-9a-f-]{36}$/;

export function getIncident(token: string, id: string): Promise<IncidentDetail> {
  return getJson(token, `/v1/incidents/${encodeURIComponent(id)}`);
}

export async function act(
  token: string,
  id: string,
  action: Action,
  body: { step?: string; note?: string; undoContainment?: boolean },
): Promise<void> {
  await request(token, 'POST', `/v1/incidents/${encodeURIComponent(id)}/${action}`, body);
}

/** The evidence listing: each call is recorded in the incident's custody log, so it is fetched on request only. */
export function getEvidence(token: string, id: string): Promise<EvidenceListing> {
  return getJson(token, `/v1/incidents/${encodeURIComponent(id)}/evidence`);
}

/** The whole bundle as a Blob (the browser holds it until saved), with the manifest hash the server sent. */
export async function getBundle(token: string, id: string): Promise<{ blob: Blob; manifestSha256: string | null }> {
  // A large bundle takes a while to stream: a longer bound than for JSON answers.
  const response = await request(
    token,
    'GET',
    `/v1/incidents/${encodeURIComponent(id)}/evidence/bundle`,
    undefined,
    BUNDLE_TIMEOUT_MS,
  );
  return { blob: await response.blob(), manifestSha256: response.headers.get('x-holdfast-manifest-sha256') };
}
