import { h, type ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import {
  act,
  ApiError,
  canAct,
  canReadEvidence,
  getBundle,
  getEvidence,
  getIncident,
  INCIDENT_ID,
  type Action,
  type AlertRecord,
  type EvidenceListing,
  type IncidentDetail,
  type Session,
  type Step,
} from './api';
import { bytes, duration, progressText, time, where } from './format';
import { usePoll } from './poll';

/** While the incident runs: often enough to watch a step finish, rarely enough for many open tabs. */
const INCIDENT_POLL_MS = 3000;

/** Only an http(s) URL becomes a link: a `javascript:` or `data:` one from a misconfiguration never does. */
function safeHttpUrl(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** Alerts that arrived while the incident closed went to the next one: a link to it once it is open. */
function nextIncident(handedOver: number | undefined, nextId: string | undefined): ComponentChildren {
  if (!handedOver) return undefined;
  const said = `${handedOver} alert(s) arrived while it closed`;
  if (!nextId || !INCIDENT_ID.test(nextId)) return `${said}: they open the next incident (not open yet)`;
  return h(
    'span',
    null,
    `${said}: `,
    h('a', { href: `#/incidents/${nextId}`, 'data-testid': 'next-incident' }, nextId),
  );
}

function dl(entries: Array<[string, ComponentChildren]>) {
  return h(
    'dl',
    { class: 'facts' },
    entries
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .flatMap(([k, v]) => [h('dt', { key: `t-${k}` }, k), h('dd', { key: `d-${k}` }, v)]),
  );
}

function StepItem(props: { step: Step; detail: IncidentDetail }) {
  const { step, detail } = props;
  const tamper = (detail.status.tamper ?? []).filter((t) => t.step === step.name);
  const running = step.state === 'running';
  // An undo step carries its action's name: `undo-isolate` tells it from `isolate` in ids and activities.
  const id = step.kind === 'undo' ? `undo-${step.name}` : step.name;
  const progress = running
    ? detail.progress.find(
        (p) =>
          p.activity === (step.kind === 'undo' ? `undo.${step.name}` : `step.${step.name}`) ||
          (typeof p.details === 'object' && p.details !== null && (p.details as { step?: unknown }).step === step.name),
      )
    : undefined;
  return h(
    'li',
    { class: `step step-${step.state}`, 'data-step': id },
    h(
      'div',
      { class: 'step-head' },
      h('h3', null, step.name),
      h('span', { class: 'kind' }, step.kind),
      h('span', { class: `badge state-${step.state}`, 'data-testid': `state-${id}` }, step.state),
    ),
    h(
      'p',
      { class: 'meta' },
      [time(step.startedAt), step.endedAt ? `→ ${time(step.endedAt)}` : '', duration(step.startedAt, step.endedAt)]
        .filter(Boolean)
        .join(' '),
    ),
    progress ? h('p', { class: 'progress', role: 'status' }, progressText(progress.details)) : null,
    step.error ? h('p', { class: 'error' }, step.error) : null,
    step.decision
      ? h(
          'p',
          { class: 'decision' },
          `${step.decision.approved ? 'Approved' : 'Rejected'} by ${step.decision.by}` +
            `${step.decision.role ? ` (${step.decision.role})` : ''} at ${time(step.decision.at)}` +
            `${step.decision.note ? `: ${step.decision.note}` : ''}`,
        )
      : null,
    step.verification
      ? h(
          'p',
          { class: `verification verdict-${step.verification.verdict}` },
          `Containment ${step.verification.verdict}: ${step.verification.reason}`,
        )
      : null,
    tamper.length > 0
      ? h(
          'ul',
          { class: 'tamper', 'aria-label': 'Tamper flags' },
          tamper.map((t, i) => h('li', { key: i }, `⚠ ${t.kind}: ${t.detail}`)),
        )
      : null,
    step.notes.length > 0
      ? h(
          'ul',
          { class: 'notes' },
          step.notes.map((n, i) => h('li', { key: i }, n)),
        )
      : null,
    step.artifacts.length > 0
      ? h(
          'ul',
          { class: 'artifacts', 'aria-label': 'Artifacts' },
          step.artifacts.map((a) =>
            h(
              'li',
              { key: a.key },
              h('span', null, a.name),
              ' ',
              h('span', { class: 'meta' }, bytes(a.size)),
              ' ',
              h('code', { class: 'hash' }, a.sha256),
            ),
          ),
        )
      : null,
  );
}

function AlertItem({ record }: { record: AlertRecord }) {
  const a = record.alert;
  const labels = Object.entries(a.labels ?? {}).slice(0, 50);
  return h(
    'li',
    { class: 'alert' },
    h(
      'div',
      { class: 'step-head' },
      h('h3', null, a.rule),
      h('span', { class: `badge sev-${a.severity}` }, a.severity),
      h('span', { class: 'kind' }, `${a.source} · ${a.status}`),
    ),
    h(
      'p',
      { class: 'meta' },
      `×${record.count}${record.resends ? ` (+${record.resends} re-sent)` : ''} · observed ${time(a.observedAt)} · last ${time(record.lastSeenAt)}`,
    ),
    // Sender text (attacker-influenced): a text node, never markup.
    h('pre', { class: 'summary', 'data-testid': 'alert-summary' }, a.summary),
    labels.length > 0
      ? h('details', null, h('summary', null, `Labels (${labels.length})`), dl(labels.map(([k, v]) => [k, String(v)])))
      : null,
  );
}

function Evidence(props: { session: Session; id: string }) {
  const [listing, setListing] = useState<EvidenceListing | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState('');
  const load = async () => {
    setBusy(true);
    setError('');
    try {
      setListing(await getEvidence(props.session.token, props.id));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const download = async () => {
    setBusy(true);
    setError('');
    try {
      const { blob, manifestSha256 } = await getBundle(props.session.token, props.id);
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `${props.id}-evidence.tar`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setSaved(`Saved ${bytes(blob.size)}; manifest SHA-256 ${manifestSha256 ?? '?'}`);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return h(
    'section',
    { 'aria-labelledby': 'evidence-heading' },
    h('h2', { id: 'evidence-heading' }, 'Evidence'),
    h('p', { class: 'hint' }, 'Each listing and download is recorded in the incident’s custody log.'),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', disabled: busy, onClick: load }, 'List sealed evidence'),
      h('button', { type: 'button', class: 'secondary', disabled: busy, onClick: download }, 'Download bundle (.tar)'),
    ),
    saved ? h('p', { role: 'status' }, saved) : null,
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    listing
      ? h(
          'div',
          { 'data-testid': 'evidence' },
          dl([
            ['Manifest SHA-256', h('code', { class: 'hash' }, listing.manifestSha256)],
            ['Signing key', h('code', { class: 'hash' }, listing.keyId)],
            ['Custody record', h('code', null, listing.custodyKey)],
          ]),
          h(
            'table',
            { class: 'evidence' },
            h('caption', null, `${listing.artifacts.length} artifacts`),
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', { scope: 'col' }, 'Path'),
                h('th', { scope: 'col' }, 'Size'),
                h('th', { scope: 'col' }, 'SHA-256'),
              ),
            ),
            h(
              'tbody',
              null,
              listing.artifacts.map((a) =>
                h(
                  'tr',
                  { key: a.path },
                  h('td', null, a.path),
                  h('td', null, bytes(a.size)),
                  h('td', null, h('code', { class: 'hash' }, a.sha256)),
                ),
              ),
            ),
          ),
        )
      : null,
  );
}

type Undo = 'default' | 'undo' | 'keep';

function Actions(props: {
  busy: boolean;
  onAct: (action: Action, body: { undoContainment?: boolean; note?: string }) => void;
}) {
  const [note, setNote] = useState('');
  const [undo, setUndo] = useState<Undo>('default');
  const body = (extra: { undoContainment?: boolean } = {}) => ({
    ...extra,
    ...(note.trim() ? { note: note.trim() } : {}),
  });
  const radio = (value: Undo, label: string) =>
    h(
      'label',
      { class: 'radio' },
      h('input', {
        type: 'radio',
        name: 'undo',
        value,
        checked: undo === value,
        onChange: () => setUndo(value),
      }),
      ` ${label}`,
    );
  return h(
    'section',
    { 'aria-labelledby': 'actions-heading', class: 'panel' },
    h('h2', { id: 'actions-heading' }, 'Respond'),
    h('label', { for: 'note' }, 'Note (recorded with the action)'),
    h('textarea', {
      id: 'note',
      maxLength: 2000,
      rows: 2,
      value: note,
      onInput: (e: Event) => setNote((e.target as HTMLTextAreaElement).value),
    }),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        { type: 'button', disabled: props.busy, onClick: () => props.onAct('acknowledge', body()) },
        'Acknowledge',
      ),
    ),
    h(
      'fieldset',
      null,
      h('legend', null, 'On resolve, containment (isolation, cordon):'),
      radio('default', 'as the playbook says'),
      radio('undo', 'undo it'),
      radio('keep', 'keep it'),
    ),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          disabled: props.busy,
          onClick: () => props.onAct('resolve', body(undo === 'default' ? {} : { undoContainment: undo === 'undo' })),
        },
        'Resolve',
      ),
      h(
        'button',
        { type: 'button', class: 'danger', disabled: props.busy, onClick: () => props.onAct('cancel', body()) },
        'Cancel incident',
      ),
    ),
  );
}

export function IncidentPage(props: { session: Session; id: string; onUnauthorized: (message: string) => void }) {
  const { session, id } = props;
  const [detail, setDetail] = useState<IncidentDetail | null>(null);
  const [error, setError] = useState('');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [refresh, setRefresh] = useState(0);

  usePoll(
    async () => {
      try {
        const next = await getIncident(session.token, id);
        setDetail(next);
        setError('');
        return next.running;
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          props.onUnauthorized(err.message);
          return false;
        }
        setError((err as Error).message);
        if (err instanceof ApiError && err.status === 404) return false;
        throw err;
      }
    },
    INCIDENT_POLL_MS,
    [id, refresh],
  );

  const perform = async (action: Action, body: { step?: string; note?: string; undoContainment?: boolean }) => {
    setBusy(true);
    setMessage('');
    try {
      await act(session.token, id, action, body);
      setMessage(`${action}${body.step ? ` ${body.step}` : ''} accepted`);
      setRefresh((n) => n + 1);
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!detail)
    return h(
      'section',
      null,
      h('p', null, h('a', { href: '#/' }, '← Incidents')),
      error ? h('p', { class: 'error', role: 'alert' }, error) : h('p', null, 'Loading…'),
    );
  const s = detail.status;
  const pending = s.steps.filter((x) => x.state === 'awaiting-approval');
  const temporalUi = safeHttpUrl(detail.temporalUiUrl);
  return h(
    'article',
    { 'aria-labelledby': 'incident-heading' },
    h('p', null, h('a', { href: '#/' }, '← Incidents')),
    h(
      'div',
      { class: 'title' },
      h('h1', { id: 'incident-heading' }, where(s.target)),
      h('span', { class: `badge phase-${s.phase}`, 'data-testid': 'phase' }, s.phase),
      h('span', { class: `badge sev-${s.severity}` }, s.severity),
      detail.running ? h('span', { class: 'live', role: 'status' }, 'live') : null,
    ),
    dl([
      ['Incident', h('code', null, s.incidentId)],
      ['Playbook', s.playbook],
      ['Started', time(s.startedAt)],
      ['Ended', time(s.endedAt)],
      ['Alerts', String(s.alertCount)],
      ['Acknowledged by', s.acknowledgedBy],
      ['Resolved by', s.resolvedBy],
      ['Dry run', s.dryRun ? 'yes: nothing was changed in the cluster' : undefined],
      ['Outcome', s.outcome],
      ['Next incident', nextIncident(s.handedOver, detail.nextIncidentId)],
      [
        'History',
        temporalUi
          ? h('a', { href: temporalUi, target: '_blank', rel: 'noopener noreferrer' }, 'Open in the Temporal UI')
          : undefined,
      ],
    ]),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    message ? h('p', { class: 'message', role: 'status', 'data-testid': 'message' }, message) : null,
    pending.length > 0
      ? h(
          'section',
          { class: 'panel pending', 'aria-labelledby': 'pending-heading' },
          h('h2', { id: 'pending-heading' }, 'Waiting for approval'),
          h(
            'ul',
            { class: 'gates' },
            pending.map((p) =>
              h(
                'li',
                { key: p.name },
                h('span', null, `${p.name} (${p.kind})${p.startedAt ? ` since ${time(p.startedAt)}` : ''}`),
                canAct(session.role) && detail.running
                  ? h(
                      'div',
                      { class: 'actions' },
                      h(
                        'button',
                        { type: 'button', disabled: busy, onClick: () => void perform('approve', { step: p.name }) },
                        `Approve ${p.name}`,
                      ),
                      h(
                        'button',
                        {
                          type: 'button',
                          class: 'danger',
                          disabled: busy,
                          onClick: () => void perform('reject', { step: p.name }),
                        },
                        `Reject ${p.name}`,
                      ),
                    )
                  : null,
              ),
            ),
          ),
          canAct(session.role) ? null : h('p', { class: 'hint' }, 'Only a responder token can approve or reject.'),
        )
      : null,
    detail.running && canAct(session.role) ? h(Actions, { busy, onAct: (a, b) => void perform(a, b) }) : null,
    (s.notes ?? []).length > 0
      ? h(
          'section',
          null,
          h('h2', null, 'Notes'),
          h(
            'ul',
            { class: 'notes' },
            s.notes!.map((n, i) => h('li', { key: i }, n)),
          ),
        )
      : null,
    (s.tamper ?? []).length > 0
      ? h(
          'section',
          { class: 'panel tamper-panel' },
          h('h2', null, 'Tamper flags'),
          h(
            'ul',
            { class: 'tamper' },
            s.tamper!.map((t, i) => h('li', { key: i }, `⚠ ${t.step} · ${t.kind}: ${t.detail}`)),
          ),
        )
      : null,
    h(
      'section',
      { 'aria-labelledby': 'timeline-heading' },
      h('h2', { id: 'timeline-heading' }, 'Timeline'),
      h(
        'ol',
        { class: 'timeline' },
        s.steps.map((step, i) =>
          h(StepItem, {
            key: `${i}:${step.kind}:${step.name}`,
            step,
            detail,
          }),
        ),
      ),
    ),
    (s.notifications ?? []).length > 0
      ? h(
          'section',
          null,
          h('h2', null, 'Pages'),
          h(
            'ul',
            { class: 'notes' },
            s.notifications!.map((n, i) =>
              h(
                'li',
                { key: i },
                `${time(n.at)} ${n.action}${n.step ? ` ${n.step}` : ''} → ${n.notifier}: ${n.state}${n.error ? ` (${n.error})` : ''}`,
              ),
            ),
          ),
        )
      : null,
    h(
      'section',
      { 'aria-labelledby': 'alerts-heading' },
      h('h2', { id: 'alerts-heading' }, `Alerts (${detail.alerts.length} distinct)`),
      h(
        'ul',
        { class: 'alerts' },
        detail.alerts.map((r, i) => h(AlertItem, { record: r, key: i })),
      ),
    ),
    canReadEvidence(session.role) ? h(Evidence, { session, id }) : null,
  );
}
