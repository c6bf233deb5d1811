/**
 * Amazon GuardDuty findings as EventBridge delivers them (`detail-type: "GuardDuty Finding"`), forwarded
 * by an API destination or a small relay.
 *
 * - pod: detail.resource.kubernetesDetails.kubernetesWorkloadDetails when its `type` is pods/pod (name,
 *   namespace; container when the workload lists exactly one);
 * - node, for findings without a pod: detail.resource.instanceDetails' first network interface
 *   privateDnsName (the EKS node name); a finding with neither is refused (422);
 * - cluster: detail.resource.eksClusterDetails.name, else the default;
 * - severity from the numeric detail.severity, following GuardDuty's documented bands: ≥ 9 critical
 *   (GuardDuty's "Critical" band, used by attack sequences), ≥ 7 high, ≥ 4 medium, ≥ 1 low, else info;
 * - rule: detail.type (e.g. Execution:Kubernetes/ExecInKubeSystemPod);
 * - id: `gd-<detail.id>`. GuardDuty republishes a finding as it recurs (same id, newer updatedAt and
 *   service.count): it is the same alert, so neither is part of the id.
 */
import { Type } from '@sinclair/typebox';
import { isValidName } from '../../common/k8s-names';
import type { Alert, Severity } from '../../common/types';
import { RawName, RawText, RawTime } from '../schemas';
import {
  buildTarget,
  collectLabels,
  isoTime,
  optionalObject,
  optionalString,
  requireObject,
  requireString,
  ruleText,
  summaryText,
} from '../parsing';
import { AlertRejected, defineAlertFormat, type ParseContext } from '../format';

export function guardDutySeverity(value: number): Severity {
  if (value >= 9) return 'critical';
  if (value >= 7) return 'high';
  if (value >= 4) return 'medium';
  if (value >= 1) return 'low';
  return 'info';
}

const bodySchema = Type.Object(
  {
    version: Type.Optional(Type.String({ maxLength: 16 })),
    id: Type.Optional(Type.String({ maxLength: 128 })),
    'detail-type': Type.Literal('GuardDuty Finding'),
    source: Type.Optional(Type.String({ maxLength: 64 })),
    account: Type.Optional(Type.String({ maxLength: 32 })),
    time: Type.Optional(RawTime),
    region: Type.Optional(Type.String({ maxLength: 32 })),
    detail: Type.Object(
      {
        id: Type.String({ maxLength: 128 }),
        type: RawText(512),
        severity: Type.Number({ minimum: 0, maximum: 10 }),
        title: Type.Optional(RawText(4096)),
        description: Type.Optional(RawText(65536)),
        createdAt: Type.Optional(RawTime),
        updatedAt: Type.Optional(RawTime),
        accountId: Type.Optional(Type.String({ maxLength: 32 })),
        region: Type.Optional(Type.String({ maxLength: 32 })),
        resource: Type.Object(
          {
            resourceType: Type.Optional(Type.String({ maxLength: 64 })),
            eksClusterDetails: Type.Optional(
              Type.Object({ name: Type.Optional(RawName) }, { additionalProperties: true }),
            ),
            kubernetesDetails: Type.Optional(
              Type.Object(
                {
                  kubernetesWorkloadDetails: Type.Optional(
                    Type.Object(
                      {
                        name: Type.Optional(RawName),
                        type: Type.Optional(Type.String({ maxLength: 64 })),
                        namespace: Type.Optional(RawName),
                        containers: Type.Optional(
                          Type.Array(Type.Object({ name: Type.Optional(RawName) }, { additionalProperties: true }), {
                            maxItems: 256,
                          }),
                        ),
                      },
                      { additionalProperties: true },
                    ),
                  ),
                },
                { additionalProperties: true },
              ),
            ),
          },
          { additionalProperties: true },
        ),
      },
      { additionalProperties: true },
    ),
  },
  { additionalProperties: true, description: 'An EventBridge event carrying a GuardDuty finding' },
);

const example = {
  version: '0',
  id: '7bf73129-1428-4cd3-a780-95db273d1602',
  'detail-type': 'GuardDuty Finding',
  source: 'aws.guardduty',
  account: '123456789012',
  time: '2026-11-28T14:20:31Z',
  region: 'eu-west-1',
  resources: [],
  detail: {
    schemaVersion: '2.0',
    accountId: '123456789012',
    region: 'eu-west-1',
    partition: 'aws',
    id: 'a4c9e1f27b3d5e6f8a9b0c1d2e3f4a5b',
    arn: 'arn:aws:guardduty:eu-west-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/a4c9e1f27b3d5e6f8a9b0c1d2e3f4a5b',
    type: 'Execution:Kubernetes/ExecInKubeSystemPod',
    resource: {
      resourceType: 'EKSCluster',
      eksClusterDetails: {
        name: 'prod-eu-1',
        arn: 'arn:aws:eks:eu-west-1:123456789012:cluster/prod-eu-1',
        status: 'ACTIVE',
      },
      kubernetesDetails: {
        kubernetesUserDetails: {
          username: 'arn:aws:sts::123456789012:assumed-role/dev-admin/alice',
          groups: ['system:authenticated'],
        },
        kubernetesWorkloadDetails: {
          name: 'coredns-5d78c9869d-8xk2p',
          type: 'pods',
          namespace: 'kube-system',
          uid: '1f6e2a55-0c1b-4c7e-9a8d-3b2f4e5d6c7a',
          containers: [{ name: 'coredns', image: '602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/coredns:v1.11.1' }],
        },
      },
    },
    service: {
      serviceName: 'guardduty',
      action: { actionType: 'KUBERNETES_API_CALL' },
      eventFirstSeen: '2026-11-28T14:18:02Z',
      eventLastSeen: '2026-11-28T14:18:02Z',
      archived: false,
      count: 1,
    },
    severity: 5,
    createdAt: '2026-11-28T14:20:11.000Z',
    updatedAt: '2026-11-28T14:20:11.000Z',
    title: 'Kubernetes exec in kube-system pod.',
    description: 'A command was executed inside a pod in the kube-system namespace on EKS Cluster prod-eu-1.',
  },
};

const FINDING_ID_RE = /^[A-Za-z0-9]{1,128}$/;

function firstPrivateDnsName(resource: Record<string, unknown>): string | undefined {
  const instance = resource.instanceDetails;
  if (typeof instance !== 'object' || instance === null) return undefined;
  const nics = (instance as Record<string, unknown>).networkInterfaces;
  if (!Array.isArray(nics) || nics.length === 0) return undefined;
  const first = nics[0] as Record<string, unknown> | null;
  const name = first && typeof first === 'object' ? first.privateDnsName : undefined;
  return typeof name === 'string' ? name : undefined;
}

function parse(body: unknown, ctx: ParseContext): Alert[] {
  const b = requireObject(body, '');
  if (b['detail-type'] !== 'GuardDuty Finding') throw new AlertRejected('/detail-type', "must be 'GuardDuty Finding'");
  const d = requireObject(b.detail, '/detail');
  const findingId = requireString(d.id, '/detail/id', 128);
  if (!FINDING_ID_RE.test(findingId)) throw new AlertRejected('/detail/id', 'must be 1-128 alphanumerics');
  const type = requireString(d.type, '/detail/type', 512);
  if (typeof d.severity !== 'number' || !Number.isFinite(d.severity) || d.severity < 0 || d.severity > 10) {
    throw new AlertRejected('/detail/severity', 'must be a number from 0 to 10');
  }
  const resource = requireObject(d.resource, '/detail/resource');
  const eks = optionalObject(resource.eksClusterDetails, '/detail/resource/eksClusterDetails') ?? {};
  const k8s = optionalObject(resource.kubernetesDetails, '/detail/resource/kubernetesDetails') ?? {};
  const wlField = '/detail/resource/kubernetesDetails/kubernetesWorkloadDetails';
  const workload = optionalObject(k8s.kubernetesWorkloadDetails, wlField) ?? {};
  const wlType = optionalString(workload.type, `${wlField}/type`, 64)?.toLowerCase();
  const isPod = wlType === 'pods' || wlType === 'pod';
  const containers = Array.isArray(workload.containers) ? workload.containers : [];
  const onlyContainer =
    containers.length === 1 && typeof containers[0] === 'object' && containers[0] !== null
      ? (containers[0] as Record<string, unknown>).name
      : undefined;
  const nodeName = isPod ? undefined : firstPrivateDnsName(resource);

  const target = buildTarget(
    {
      scope: ctx,
      cluster: { value: eks.name, field: '/detail/resource/eksClusterDetails/name' },
      namespace: { value: workload.namespace, field: `${wlField}/namespace` },
      pod: isPod ? { value: workload.name, field: `${wlField}/name` } : undefined,
      // A container is named only when the pod has exactly one (GuardDuty lists the workload's containers).
      container:
        isPod && isValidName('container', onlyContainer)
          ? { value: onlyContainer, field: `${wlField}/containers/0/name` }
          : undefined,
      node:
        nodeName !== undefined
          ? { value: nodeName, field: '/detail/resource/instanceDetails/networkInterfaces/0/privateDnsName' }
          : undefined,
    },
    isPod ? `${wlField}/name` : wlField,
  );

  const title = optionalString(d.title, '/detail/title', 4096);
  const description = optionalString(d.description, '/detail/description');
  const service = optionalObject(d.service, '/detail/service') ?? {};
  const user = isObjectLike(k8s.kubernetesUserDetails)
    ? (k8s.kubernetesUserDetails as Record<string, unknown>).username
    : undefined;
  const labels = collectLabels({
    'guardduty.findingId': findingId,
    'guardduty.severity': d.severity,
    'guardduty.account': d.accountId ?? b.account,
    'guardduty.region': d.region ?? b.region,
    'guardduty.resourceType': resource.resourceType,
    'guardduty.workloadType': workload.type,
    'guardduty.workloadName': isPod ? undefined : workload.name,
    'guardduty.kubernetesUser': user,
    'guardduty.count': service.count,
    'guardduty.updatedAt': d.updatedAt,
  });

  return [
    {
      id: `gd-${findingId}`,
      source: 'guardduty',
      rule: ruleText(type),
      severity: guardDutySeverity(d.severity),
      summary: summaryText([title, description].filter(Boolean).join(' — ') || type),
      observedAt: isoTime(service.eventFirstSeen) ?? isoTime(d.createdAt) ?? isoTime(b.time) ?? ctx.receivedAt,
      receivedAt: ctx.receivedAt,
      target,
      labels,
      status: 'firing',
      rawSha256: ctx.rawSha256,
    },
  ];
}

function isObjectLike(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const guarddutyFormat = defineAlertFormat({
  name: 'guardduty',
  route: '/v1/alerts/guardduty',
  description: 'Amazon GuardDuty findings (EKS protection / runtime monitoring) as EventBridge events',
  bodySchema,
  example,
  parse,
});
