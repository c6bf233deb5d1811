import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ALERT_FORMATS } from '../../alerts/registry';
import type { IncidentsService } from '../../api/incidents';
import type { AlertIntake } from '../../api/intake';
import { createApiMetrics, type ApiMetrics } from '../../api/metrics';
import { alertRoutes, type AlertRouteDeps } from '../../api/routes/alerts';
import { buildServer } from '../../api/server';

/** An API with only the alert routes over the given intake, one intake token, and the route options given. */
export async function intakeApp(
  intake: AlertIntake,
  token: string,
  route: Omit<AlertRouteDeps, 'intake' | 'metrics' | 'formats'>,
): Promise<{ app: FastifyInstance; metrics: ApiMetrics }> {
  const metrics = createApiMetrics();
  const app = await buildServer({
    logger: pino({ level: 'silent' }),
    readiness: {},
    tokens: new Map([[token, 'intake']]),
    incidents: {} as IncidentsService,
    metrics,
    routes: [alertRoutes({ intake, metrics, formats: ALERT_FORMATS, ...route })],
  });
  return { app, metrics };
}
