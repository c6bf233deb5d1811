import crypto from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import { FailureType, isFailure } from '../../../common/failures';
import type { PodRef } from '../../../common/types';
import type { CaptureStream } from '../../../common/ports';
import { jsonBody } from '../../../evidence/json-body';
import { dryRunPlan } from '../collector/dry-run';
import { describeOutcome, ExecReadable, type ExecOutcome, interferenceFailure } from '../collector/exec-stream';
import type { CollectorHandle } from '../collector/launcher';
import { listTargetProcesses } from '../collector/processes';
import { COLLECTOR_RBAC } from '../collector/rbac';
import {
  NETWORK_FRAMED_SECTIONS,
  NETWORK_SECTIONS,
  NETWORK_STATE,
  NETWORK_TOOL_KILLED,
  RETIRED_INTERFERED,
} from '../collector/scripts';
import { mapKubernetesError } from '../errors';
import type { Kube } from '../kube';
import { ORIGINAL_LABELS_ANNOTATION } from '../labels';
import { API_COLLECTOR } from '../streams';
import { defineCapture } from '../units';
import { NetworkStateParser, type ParsedNetworkState } from './network-parse';

/** Kubernetes label selector semantics (matchLabels AND every matchExpression); an empty selector selects all. */
export function selects(selector: k8s.V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expr of selector.matchExpressions ?? []) {
    const has = expr.key in labels;
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(labels[expr.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[expr.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
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
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : (pod.metadata?.labels ?? {});
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
export const networkCapture = defineCapture({
  name: 'network',
  description:
    'Sockets (tcp, tcp6, udp, unix) with their processes, interfaces, routes, DNS config and conntrack entries, raw and parsed, ' +
    'plus the NetworkPolicies, Services and EndpointSlices that concern the pod.',
  params: Type.Object({
    maxBytes: Type.Integer({ minimum: 1024, default: 64 * 1024 ** 2 }),
    timeoutSeconds: Type.Integer({
      minimum: 10,
      maximum: 1800,
      default: 120,
      description: 'Time bound of the network state script (ss, /proc/net, socket owners, conntrack).',
    }),
    maxParsedEntries: Type.Integer({
      minimum: 100,
      maximum: 200_000,
      default: 20_000,
      description:
        'Entries parsed into network-state.json per socket table (and for conntrack); the rest are counted in a note and stay in network-state.txt. Bounds the worker memory whatever the pod holds.',
    }),
    packetCaptureSeconds: Type.Integer({
      minimum: 0,
      maximum: 300,
      default: 0,
      description:
        'A pcap of the pod network for this long (0: none). Containment waits for it up to the containAfter grace.',
    }),
    packetCaptureMaxBytes: Type.Integer({ minimum: 1024, default: 64 * 1024 ** 2 }),
    stallSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 60,
      description:
        "Fail as CollectorStalled (tamper note; retried once on a fresh collector) when the network state script's (not the pcap: a quiet network writes nothing) output does not advance this long.",
    }),
  }),
  example: { packetCaptureSeconds: 30, packetCaptureMaxBytes: 33554432 },
  rbac: [
    ...COLLECTOR_RBAC,
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list'] },
    { apiGroups: [''], resources: ['services'], verbs: ['list'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list'] },
  ],
  timeouts: { startToCloseSeconds: 600, heartbeatSeconds: 60, maximumAttempts: 3 },
  async capture(kube, target, params, run): Promise<CaptureStream[]> {
    if (run.dryRun) return dryRunPlan(kube.launcher, target, run.incidentId, 'network', params);
    const handle = await kube.launcher.ensure(target, run.incidentId, run.signal);
    const { processes, notes: psNotes } = await listTargetProcesses(kube.exec, handle, 4096, run.signal, (why) =>
      kube.launcher.retire(kube.exec, handle, why),
    );
    // The nonce goes over stdin: argv is readable by the target at /proc/<pid>/cmdline.
    const nonce = crypto.randomBytes(8).toString('hex');
    const retire = (why: string) => kube.launcher.retire(kube.exec, handle, why);
    const bounds = {
      maxBytes: params.maxBytes,
      timeoutMs: params.timeoutSeconds * 1000,
      signal: run.signal,
      stallMs: params.stallSeconds * 1000,
      what: 'network state',
      onStall: retire,
      stdin: nonce,
      incomplete: (o: { exitCode: number | null; stderr: string }) =>
        o.exitCode === NETWORK_TOOL_KILLED
          ? `network state: killed by a signal: ${(/holdfast-killed((?: [a-z0-9.-]{1,32}:\d{1,3}){1,20})/.exec(o.stderr)?.[1] ?? ' (unknown)').trim()}: possibly by a process in the target; sections are incomplete`
          : undefined,
    };
    // Parsed as it streams (a bounded sample, never the whole output in memory); the raw text is stored as it
    // streams through. The parsed JSON is ready once the raw text ended complete.
    const parser = new NetworkStateParser(nonce, NETWORK_SECTIONS, NETWORK_FRAMED_SECTIONS, {
      maxEntriesPerTable: params.maxParsedEntries,
      maxTextBytes: 1024 * 1024,
    });
    const notes = [...handle.notes, ...psNotes];
    const tamper = [...(handle.tamper ?? [])];
    const comm = new Map(processes.map((p) => [p.pid, p.comm]));
    let outcome: ExecOutcome | undefined;
    let parsedOk!: (parsed: ParsedNetworkState) => void;
    let parsedFailed!: (err: Error) => void;
    const parsed = new Promise<ParsedNetworkState>((resolve, reject) => {
      parsedOk = resolve;
      parsedFailed = reject;
    });
    parsed.catch(() => undefined);
    const raw = new ExecReadable(
      kube.exec,
      handle,
      ['sh', '-c', NETWORK_STATE, 'holdfast-net', String(processes[0]!.pid)],
      bounds,
      (o) => {
        outcome = o;
        notes.push(...describeOutcome('network state', o, bounds));
      },
    );
    const tee = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        parser.write(chunk);
        callback(null, chunk);
      },
      flush(callback) {
        parser.end();
        const cutByUs = Boolean(outcome?.truncated || outcome?.timedOut);
        if (!parser.splitter.complete && !cutByUs && outcome?.exitCode === 0) {
          // Exited cleanly without its end marker: the output is not what the script wrote.
          const failure = interferenceFailure(
            handle,
            'network state: the output ended without its end marker although the script exited 0: possibly interfered with',
          );
          void retire(RETIRED_INTERFERED)
            .catch(() => undefined)
            .then(() => callback(failure));
          return;
        }
        if (!parser.splitter.complete) notes.push('the network state output ended early: later sections are missing');
        for (const f of parser.splitter.findings) notes.push(`tamper: ${f.detail}`);
        tamper.push(...parser.splitter.findings);
        const result = parser.result(comm);
        notes.push(...result.notes);
        parsedOk(result.parsed);
        callback();
      },
    });
    const rawBody = pipeline(raw, tee, (err) => {
      if (err) parsedFailed(err);
    });
    let jsonStarted = false;
    const parsedBody = new Readable({
      read() {
        if (jsonStarted) return;
        jsonStarted = true;
        parsed.then(
          (value) => {
            this.push(Buffer.from(`${JSON.stringify(value, null, 2)}\n`));
            this.push(null);
          },
          (err: Error) => this.destroy(new Error(`network state not parsed: ${err.message}`)),
        );
      },
    });

    const view = await kubernetesView(kube, target).catch((err: unknown) => {
      const mapped = mapKubernetesError(err, 'network view');
      if (isFailure(mapped, FailureType.PermissionDenied)) throw mapped;
      return { error: mapped.message };
    });
    const streams: CaptureStream[] = [
      {
        name: 'network-state.txt',
        body: rawBody,
        contentType: 'text/plain',
        collector: handle.info,
        method: 'collector exec in the pod network namespace: ss, /proc/net, ip, resolv.conf, conntrack',
        notes,
        tamper,
      },
      {
        name: 'network-state.json',
        body: parsedBody,
        contentType: 'application/json',
        collector: handle.info,
        method: 'parsed from network-state.txt as it streamed (a bounded sample: see "bounded")',
        notes: [],
      },
      {
        name: 'kubernetes-network-view.json',
        body: jsonBody(view),
        contentType: 'application/json',
        collector: API_COLLECTOR,
        method: 'kubernetes-api: list NetworkPolicies, Services, EndpointSlices in the namespace',
        notes: [],
      },
    ];
    if (params.packetCaptureSeconds > 0)
      streams.push(packetCapture(kube, handle, params.packetCaptureSeconds, params.packetCaptureMaxBytes, run.signal));
    return streams;
  },
});

/**
 * A bounded pcap of every interface of the pod network namespace: `timeout` bounds the time, the exec
 * stream the bytes. It delays containment by its duration, so playbooks keep it short (default off).
 */
function packetCapture(
  kube: Kube,
  handle: CollectorHandle,
  seconds: number,
  maxBytes: number,
  signal?: AbortSignal,
): CaptureStream {
  const bounds = { maxBytes, timeoutMs: (seconds + 30) * 1000, signal };
  const notes = [`${seconds} s on all interfaces, at most ${maxBytes} bytes, full packets (snaplen 262144)`];
  // -Z root: the collector image has no tcpdump user to drop to; -U: write each packet as it comes.
  const argv = [
    'timeout',
    String(seconds),
    '/usr/bin/tcpdump',
    '-i',
    'any',
    '-n',
    '-U',
    '-s',
    '262144',
    '-Z',
    'root',
    '-w',
    '-',
  ];
  return {
    name: 'packets.pcap',
    body: new ExecReadable(kube.exec, handle, argv, bounds, (outcome) => {
      // timeout ends tcpdump with SIGTERM (exit 143 or 124): that is the normal end of the capture
      notes.push(
        ...describeOutcome(
          'tcpdump',
          { ...outcome, exitCode: [124, 143].includes(outcome.exitCode ?? -1) ? 0 : outcome.exitCode },
          bounds,
        ),
      );
      return undefined;
    }),
    contentType: 'application/vnd.tcpdump.pcap',
    collector: handle.info,
    method: 'collector exec: tcpdump -i any -w - (pcap, Linux cooked headers)',
    notes,
  };
}

async function kubernetesView(kube: Kube, target: PodRef) {
  const pod = await kube.core.readNamespacedPod({ name: target.pod, namespace: target.namespace });
  const now = pod.metadata?.labels ?? {};
  const before = originalLabels(pod);
  const namespace = target.namespace;
  const [policies, services, slices] = await Promise.all([
    kube.networking.listNamespacedNetworkPolicy({ namespace, limit: 500 }),
    kube.core.listNamespacedService({ namespace, limit: 500 }),
    kube.discovery.listNamespacedEndpointSlice({ namespace, limit: 500 }),
  ]);
  const podIPs = new Set(
    (pod.status?.podIPs ?? []).map((ip) => ip.ip).concat(pod.status?.podIP ? [pod.status.podIP] : []),
  );
  return {
    pod: {
      namespace,
      name: target.pod,
      uid: pod.metadata?.uid,
      podIPs: [...podIPs],
      labels: now,
      labelsBeforeHoldfast: before,
    },
    networkPolicies: policies.items
      .map((p) => ({
        name: p.metadata?.name,
        selectsNow: selects(p.spec?.podSelector, now),
        selectedBefore: selects(p.spec?.podSelector, before),
        spec: p.spec,
      }))
      .filter((p) => p.selectsNow || p.selectedBefore),
    services: services.items
      .map((s) => ({
        name: s.metadata?.name,
        selectsNow: serviceSelects(s.spec?.selector, now),
        selectedBefore: serviceSelects(s.spec?.selector, before),
        type: s.spec?.type,
        clusterIPs: s.spec?.clusterIPs,
        ports: s.spec?.ports,
      }))
      .filter((s) => s.selectsNow || s.selectedBefore),
    endpointSlices: slices.items
      .filter((slice) =>
        slice.endpoints.some((e) => e.targetRef?.uid === pod.metadata?.uid || e.addresses.some((a) => podIPs.has(a))),
      )
      .map((slice) => ({
        name: slice.metadata?.name,
        service: slice.metadata?.labels?.['kubernetes.io/service-name'],
        endpoints: slice.endpoints.filter(
          (e) => e.targetRef?.uid === pod.metadata?.uid || e.addresses.some((a) => podIPs.has(a)),
        ),
        ports: slice.ports,
      })),
    truncated: [policies, services, slices].some((list) => Boolean(list.metadata?._continue)),
  };
}
