import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { FailureType, isFailure } from '../../common/failures';
import type { PodRef } from '../../common/types';
import { HOLDFAST_VERSION } from '../../common/version';
import type { CaptureOptions, CaptureStream } from '../../common/ports';
import { jsonBody } from '../../evidence/json-body';
import { describeOutcome, dryRunPlan, ExecReadable, execSmall, type CollectorHandle } from './collector';
import type { CollectorDeps } from './collector-deps';
import { NETWORK_STATE } from './collector-scripts';
import { mapKubernetesError } from './errors';
import { ORIGINAL_LABELS_ANNOTATION } from './labels';
import {
  parseConntrack, parseInetTable, parseInterfaces, parseResolvConf, parseRoutes, parseSocketInodes, parseUnixTable, splitSections,
  type SocketEntry,
} from './network-parse';
import { listTargetProcesses } from './processes';


/** Kubernetes label selector semantics (matchLabels AND every matchExpression); an empty selector selects all. */
export function selects(selector: k8s.V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = expr.key in labels;
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In': if (!has || !values.includes(labels[expr.key]!)) return false; break;
      case 'NotIn': if (has && values.includes(labels[expr.key]!)) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

/** A Service selector is plain key=value pairs; no selector means it selects nothing by label. */
function serviceSelects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function originalLabels(pod: k8s.V1Pod): Record<string, string> {
  try {
    const parsed = JSON.parse(pod.metadata?.annotations?.[ORIGINAL_LABELS_ANNOTATION] ?? 'null') as unknown;
    return parsed && typeof parsed === 'object' ? parsed as Record<string, string> : pod.metadata?.labels ?? {};
  } catch {
    return pod.metadata?.labels ?? {};
  }
}

/**
 * The pod's network state as the collector sees it from inside the pod network namespace (sockets
 * with their processes, interfaces, routes, DNS, conntrack), raw and parsed, and the Kubernetes view:
 * NetworkPolicies that select the pod, Services and EndpointSlices that include it. Labels are judged
 * both as they are now and as they were before Holdfast relabelled the pod.
 */
export async function captureNetwork(deps: CollectorDeps, target: PodRef, opts: CaptureOptions): Promise<CaptureStream[]> {
  if (opts.dryRun) return dryRunPlan(deps.launcher, target, opts.incidentId, 'network', opts.params);
  const handle = await deps.launcher.ensure(target, opts.incidentId, opts.signal);
  const { processes, notes: psNotes } = await listTargetProcesses(deps.exec, handle, 4096, opts.signal);
  const nonce = crypto.randomBytes(8).toString('hex');
  const bounds = { maxBytes: Number(opts.params.maxBytes ?? 64 * 1024 * 1024), timeoutMs: 120_000, signal: opts.signal };
  const raw = await execSmall(deps.exec, handle, ['sh', '-c', NETWORK_STATE, 'holdfast-net', String(processes[0]!.pid), nonce], bounds);
  const text = raw.stdout.toString('utf8');
  const sections = splitSections(text, nonce);
  const notes = [...handle.notes, ...psNotes, ...describeOutcome('network state', raw.outcome, bounds)];
  if (!sections.has('end')) notes.push('the network state output ended early: later sections are missing');

  const comm = new Map(processes.map((p) => [p.pid, p.comm]));
  const owners = parseSocketInodes(sections.get('socket-inodes') ?? '');
  const sockets: SocketEntry[] = [
    ...parseInetTable('tcp', sections.get('proc-net-tcp') ?? ''),
    ...parseInetTable('tcp6', sections.get('proc-net-tcp6') ?? ''),
    ...parseInetTable('udp', sections.get('proc-net-udp') ?? ''),
    ...parseInetTable('udp6', sections.get('proc-net-udp6') ?? ''),
    ...parseUnixTable(sections.get('proc-net-unix') ?? ''),
  ].map((s) => ({ ...s, processes: (owners.get(s.inode) ?? []).map((pid) => ({ pid, comm: comm.get(pid) })) }));
  const conntrackText = sections.get('conntrack') ?? '';
  const conntrack = /Operation not permitted|not supported|can't open|error/i.test(conntrackText) && !/flow entries have been shown/.test(conntrackText)
    ? { reachable: false, reason: conntrackText.trim().slice(0, 300) }
    : { reachable: true, entries: parseConntrack(conntrackText) };
  if (!conntrack.reachable) notes.push(`conntrack not reachable: ${conntrack.reason}`);

  const parsed = {
    sockets,
    interfaces: parseInterfaces(sections.get('interfaces') ?? ''),
    routes: [...parseRoutes(sections.get('routes') ?? ''), ...parseRoutes(sections.get('routes6') ?? '')],
    dns: parseResolvConf(sections.get('resolv.conf') ?? ''),
    conntrack,
  };

  const view = await kubernetesView(deps, target).catch((err: unknown) => {
    const mapped = mapKubernetesError(err, 'network view');
    if (isFailure(mapped, FailureType.PermissionDenied)) throw mapped;
    return { error: mapped.message };
  });
  const streams: CaptureStream[] = [
    { name: 'network-state.txt', body: Readable.from([raw.stdout]), contentType: 'text/plain', collector: handle.info, method: 'collector exec in the pod network namespace: ss, /proc/net, ip, resolv.conf, conntrack', notes },
    { name: 'network-state.json', body: jsonBody(parsed), contentType: 'application/json', collector: handle.info, method: 'parsed from network-state.txt', notes: [] },
    { name: 'kubernetes-network-view.json', body: jsonBody(view), contentType: 'application/json', collector: { name: 'holdfast-kubernetes-api', version: HOLDFAST_VERSION }, method: 'kubernetes-api: list NetworkPolicies, Services, EndpointSlices in the namespace', notes: [] },
  ];
  const seconds = Number(opts.params.packetCaptureSeconds ?? 0);
  if (seconds > 0) streams.push(packetCapture(deps, handle, seconds, Number(opts.params.packetCaptureMaxBytes ?? 64 * 1024 * 1024), opts.signal));
  return streams;
}

/**
 * A bounded pcap of every interface of the pod network namespace: `timeout` bounds the time, the exec
 * stream the bytes. It delays containment by its duration, so playbooks keep it short (default off).
 */
function packetCapture(deps: CollectorDeps, handle: CollectorHandle, seconds: number, maxBytes: number, signal?: AbortSignal): CaptureStream {
  const bounds = { maxBytes, timeoutMs: (seconds + 30) * 1000, signal };
  const notes = [`${seconds} s on all interfaces, at most ${maxBytes} bytes, full packets (snaplen 262144)`];
  // -Z root: the collector image has no tcpdump user to drop to; -U: write each packet as it comes.
  const argv = ['timeout', String(seconds), '/usr/bin/tcpdump', '-i', 'any', '-n', '-U', '-s', '262144', '-Z', 'root', '-w', '-'];
  return {
    name: 'packets.pcap',
    body: new ExecReadable(deps.exec, handle, argv, bounds, (outcome) => {
      // timeout ends tcpdump with SIGTERM (exit 143 or 124): that is the normal end of the capture
      notes.push(...describeOutcome('tcpdump', { ...outcome, exitCode: [124, 143].includes(outcome.exitCode ?? -1) ? 0 : outcome.exitCode }, bounds));
      return undefined;
    }),
    contentType: 'application/vnd.tcpdump.pcap',
    collector: handle.info,
    method: 'collector exec: tcpdump -i any -w - (pcap, Linux cooked headers)',
    notes,
  };
}

async function kubernetesView(deps: CollectorDeps, target: PodRef) {
  const pod = await deps.core.readNamespacedPod({ name: target.pod, namespace: target.namespace });
  const now = pod.metadata?.labels ?? {};
  const before = originalLabels(pod);
  const namespace = target.namespace;
  const [policies, services, slices] = await Promise.all([
    deps.networking.listNamespacedNetworkPolicy({ namespace, limit: 500 }),
    deps.core.listNamespacedService({ namespace, limit: 500 }),
    deps.discovery.listNamespacedEndpointSlice({ namespace, limit: 500 }),
  ]);
  const podIPs = new Set((pod.status?.podIPs ?? []).map((ip) => ip.ip).concat(pod.status?.podIP ? [pod.status.podIP] : []));
  return {
    pod: { namespace, name: target.pod, uid: pod.metadata?.uid, podIPs: [...podIPs], labels: now, labelsBeforeHoldfast: before },
    networkPolicies: policies.items
      .map((p) => ({ name: p.metadata?.name, selectsNow: selects(p.spec?.podSelector, now), selectedBefore: selects(p.spec?.podSelector, before), spec: p.spec }))
      .filter((p) => p.selectsNow || p.selectedBefore),
    services: services.items
      .map((s) => ({ name: s.metadata?.name, selectsNow: serviceSelects(s.spec?.selector, now), selectedBefore: serviceSelects(s.spec?.selector, before), type: s.spec?.type, clusterIPs: s.spec?.clusterIPs, ports: s.spec?.ports }))
      .filter((s) => s.selectsNow || s.selectedBefore),
    endpointSlices: slices.items
      .filter((slice) => slice.endpoints.some((e) => e.targetRef?.uid === pod.metadata?.uid || e.addresses.some((a) => podIPs.has(a))))
      .map((slice) => ({
        name: slice.metadata?.name,
        service: slice.metadata?.labels?.['kubernetes.io/service-name'],
        endpoints: slice.endpoints.filter((e) => e.targetRef?.uid === pod.metadata?.uid || e.addresses.some((a) => podIPs.has(a))),
        ports: slice.ports,
      })),
    truncated: [policies, services, slices].some((list) => Boolean(list.metadata?._continue)),
  };
}
