import client from 'prom-client';

/** The API's Prometheus metrics, in their own registry so tests can build several servers. */
export function createApiMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'holdfast_api_' });
  const alertsReceived = new client.Counter({
    name: 'holdfast_alerts_received_total',
    help:
      'Alerts received, by source format and outcome (accepted, deduplicated, storm: beyond the incident creation ' +
      'limits, resolved, rejected, not_actionable, unauthorized, failed, spooled); rejected ones also by a bounded reason.',
    labelNames: ['source', 'outcome', 'reason'] as const,
    registers: [registry],
  });
  const intakeSeconds = new client.Histogram({
    name: 'holdfast_intake_duration_seconds',
    help: 'Time from receiving an alert to answering it (includes the durable hand-off to Temporal).',
    labelNames: ['source'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const incidentsByStatus = new client.Gauge({
    name: 'holdfast_incidents',
    help: 'Incidents by status (from Temporal visibility, refreshed on scrape).',
    labelNames: ['status'] as const,
    registers: [registry],
  });
  return { registry, alertsReceived, intakeSeconds, incidentsByStatus };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
