import { h } from 'preact';
import { useState } from 'preact/hooks';
import { ApiError, INCIDENT_ID, listIncidents, type IncidentSummary, type ListFilters, type Session } from './api';
import { INCIDENT_PHASES } from '../../common/incident-view';
import { time } from './format';
import { usePoll } from './poll';

/** The values `?severity=` accepts (common/types.ts SEVERITIES, which imports what the bundle must not). */
const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const LIST_POLL_MS = 10_000;

function select(id: string, label: string, value: string, options: string[], onChange: (v: string) => void) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h(
      'select',
      { id, value, onChange: (e: Event) => onChange((e.target as HTMLSelectElement).value) },
      h('option', { value: '' }, 'any'),
      options.map((o) => h('option', { value: o, key: o }, o)),
    ),
  );
}

function text(id: string, label: string, value: string, onChange: (v: string) => void) {
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    h('input', {
      id,
      type: 'text',
      value,
      maxLength: 253,
      autocomplete: 'off',
      spellcheck: false,
      onChange: (e: Event) => onChange((e.target as HTMLInputElement).value.trim()),
    }),
  );
}

function Row({ incident }: { incident: IncidentSummary }) {
  const where = incident.pod
    ? `${incident.cluster ?? '?'}/${incident.namespace ?? '?'}/${incident.pod}`
    : (incident.cluster ?? '?');
  return h(
    'li',
    { class: 'incident-row' },
    INCIDENT_ID.test(incident.incidentId)
      ? h('a', { href: `#/incidents/${incident.incidentId}`, class: 'incident-link' }, where)
      : h('span', { class: 'incident-link' }, where),
    h('span', { class: `badge phase-${incident.status}` }, incident.status),
    incident.severity ? h('span', { class: `badge sev-${incident.severity}` }, incident.severity) : null,
    h('span', { class: 'meta' }, incident.source ?? ''),
    h('span', { class: 'meta' }, time(incident.startedAt)),
    h('span', { class: 'meta mono' }, incident.incidentId),
  );
}

export function IncidentList(props: { session: Session; onUnauthorized: (message: string) => void }) {
  const [filters, setFilters] = useState<ListFilters>({});
  const [pages, setPages] = useState<string[]>([]);
  const [result, setResult] = useState<{ incidents: IncidentSummary[]; nextPageToken?: string } | null>(null);
  const [error, setError] = useState('');
  const pageToken = pages[pages.length - 1];
  const set = (name: keyof ListFilters) => (value: string) => {
    setPages([]);
    setFilters({ ...filters, [name]: value || undefined });
  };

  usePoll(
    async () => {
      try {
        setResult(await listIncidents(props.session.token, filters, pageToken));
        setError('');
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          props.onUnauthorized((err as Error).message);
          return false;
        }
        setError((err as Error).message);
        throw err;
      }
    },
    LIST_POLL_MS,
    [JSON.stringify(filters), pageToken],
  );

  return h(
    'section',
    { 'aria-labelledby': 'incidents-heading' },
    h('h1', { id: 'incidents-heading' }, 'Incidents'),
    h(
      'form',
      { class: 'filters', onSubmit: (e: Event) => e.preventDefault(), 'aria-label': 'Filters' },
      select('f-status', 'Status', filters.status ?? '', [...INCIDENT_PHASES], set('status')),
      select('f-severity', 'Severity', filters.severity ?? '', SEVERITIES, set('severity')),
      text('f-source', 'Source', filters.source ?? '', set('source')),
      text('f-cluster', 'Cluster', filters.cluster ?? '', set('cluster')),
      text('f-namespace', 'Namespace', filters.namespace ?? '', set('namespace')),
      text('f-pod', 'Pod', filters.pod ?? '', set('pod')),
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    result === null
      ? h('p', null, 'Loading…')
      : result.incidents.length === 0
        ? h('p', { class: 'notice' }, 'No incidents match.')
        : h(
            'ul',
            { class: 'incidents', 'data-testid': 'incidents' },
            result.incidents.map((i) => h(Row, { incident: i, key: i.incidentId })),
          ),
    h(
      'nav',
      { class: 'pager', 'aria-label': 'Pages' },
      pages.length > 0
        ? h('button', { type: 'button', class: 'secondary', onClick: () => setPages(pages.slice(0, -1)) }, 'Previous')
        : null,
      result?.nextPageToken
        ? h(
            'button',
            { type: 'button', class: 'secondary', onClick: () => setPages([...pages, result.nextPageToken!]) },
            'Next',
          )
        : null,
    ),
  );
}
