import { Type } from '@sinclair/typebox';
import { FailureType, isFailure } from '../../../common/failures';
import { mapKubernetesError } from '../errors';
import { dryRunOf } from '../kube';
import { pinOf, readPinnedPod } from '../pods';
import { defineAction } from '../units';

/** Destroys the suspect: only behind a human's approval (the playbook loader refuses it otherwise). */
export const deletePodAction = defineAction({
  name: 'delete-pod',
  kind: 'contain',
  target: 'pod',
  description:
    'Deletes the suspect pod once its evidence is captured (captures run before containment). Irreversible: ' +
    'a playbook may use it only with approval: { required: true } and onTimeout: reject.',
  params: Type.Object({}),
  example: { approval: { required: true, timeout: '30m', onTimeout: 'reject' } },
  rbac: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }],
  timeouts: { startToCloseSeconds: 60, heartbeatSeconds: 0, maximumAttempts: 5 },
  requiresApproval: true,
  async apply(kube, target, _params, run) {
    const gone = {
      changed: false,
      dryRun: run.dryRun,
      notes: [`pod ${target.namespace}/${target.pod} was already gone`],
    };
    const pod = await readPinnedPod(kube, target, run.pod).catch((err: unknown) => {
      if (isFailure(err, FailureType.NotFound)) return undefined;
      throw err;
    });
    if (!pod) return gone;
    const pin = pinOf(pod);
    try {
      // The UID precondition: a pod recreated under the name since the read is not deleted (409, PodReplaced).
      await kube.core.deleteNamespacedPod({
        name: target.pod,
        namespace: target.namespace,
        dryRun: dryRunOf(run),
        gracePeriodSeconds: 0,
        body: { preconditions: { uid: pin.uid } },
      });
      return {
        changed: true,
        dryRun: run.dryRun,
        pod: pin,
        notes: [`pod ${target.namespace}/${target.pod} (uid ${pin.uid}) deleted`],
      };
    } catch (err) {
      if ((err as { code?: number }).code === 404) return gone;
      throw mapKubernetesError(err, `delete pod ${target.namespace}/${target.pod}`);
    }
  },
});
