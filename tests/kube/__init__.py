"""A fake Kubernetes cluster for tests: a stateful API server over real HTTPS, and a test
kubelet (with a Job controller) that runs Pods for real.

No kube-apiserver can be installed on these machines, so tests talk to `FakeKube` exactly as
to a cluster: a kubeconfig, the official `kubernetes` client, kopf/lightkube, the real
`kubectl` in .venv/bin.

Fixtures (`from tests.kube.fixtures import fake_kube, kubelet`):
- `fake_kube` -> FakeKube, started on https://127.0.0.1:RANDOM, fresh per test.
- `kubeconfig` -> Path of an admin kubeconfig for it.
- `kubelet` -> Kubelet on `fake_kube` (Docker where it runs, else local processes);
  `local_kubelet`, `docker_kubelet` (skips without Docker) force a mode.

Kubelet (node "fake-node", user system:node:fake-node; its Job controller is
system:serviceaccount:kube-system:job-controller; both talk HTTPS to the fake API):
- binds every Pod to itself and runs it: init containers in order, native sidecars
  (restartPolicy Always) started in order, each held until its startupProbe passes (exec,
  httpGet, tcpSocket, grpc) and restarted if it dies, then the main containers, then the
  sidecars stopped (reverse order); readinessProbe -> ready / Ready conditions.
- status: phase, conditions, containerStatuses and initContainerStatuses (waiting
  ContainerCreating / ErrImagePull -> ImagePullBackOff / CreateContainerConfigError,
  running, terminated with exitCode, reason Completed / Error / OOMKilled, message = the
  termination message file, FallbackToLogsOnError honoured); logs at pods/NAME/log.
- volumes as host folders: emptyDir, configMap and secret (items, subPath, optional),
  projected (serviceAccountToken through a real TokenRequest bound to the pod, configMap,
  secret, downwardAPI), downwardAPI, persistentVolumeClaim (a folder per claim under
  `kubelet.root/claims/NS/CLAIM`, kept across pods), hostPath. Env: value ($(VAR)),
  valueFrom secretKeyRef / configMapKeyRef / fieldRef / resourceFieldRef, envFrom.
- KUBERNETES_SERVICE_HOST/PORT (=127.0.0.1 and the fake's port) and the KUBERNETES_PORT*
  variables are set in every container, as a real kubelet does whatever enableServiceLinks
  or automountServiceAccountToken say: a Pod that must not see them has to override them.
- docker mode: the Pod's image (never pulled: `--pull never`), command/args, env (values via
  the docker client's environment, never its argv), bind mounts, securityContext and limits
  (runtime/launchers/_docker_args.py), `--network host` (everything on 127.0.0.1), `--init`.
- local mode: the command as a process; argv, env values and workingDir under a mountPath
  are mapped to the host folder; PODIUM_TERMINATION_LOG names the termination message file
  (a program opening a fixed path such as /var/run/secrets/... itself is not redirected).
- Job controller: one Pod per Job at a time (generateName, ownerReference, the template's
  job-name/controller-uid labels), retries up to backoffLimit, activeDeadlineSeconds (pods
  killed, Failed/DeadlineExceeded), Complete (SuccessCriteriaMet) / Failed
  (FailureTarget, BackoffLimitExceeded), startTime/completionTime, counts, events
  (SuccessfulCreate, Completed, FailedCreate), ttlSecondsAfterFinished deletion.
- pod deletion: graceful (deletionTimestamp; containers stopped within the grace period,
  then the pod removed), force deletion kills them; Pod activeDeadlineSeconds.
- injection: `kill(namespace, pod, container, oom=False)`, `pull_fails` (images whose pull
  fails), `probes` (every probe run: pod, container, passed, seconds), `run_of(ns, pod)`,
  `probe_speedup` (divides probe periods).
- not done: parallelism/completions > 1, indexed Jobs, podFailurePolicy, suspend resume
  semantics beyond deleting pods, pod restartPolicy OnFailure counts toward backoff, image
  pulls, resource enforcement in local mode, network isolation between pods.

FakeKube:
- `url`, `ca_path` (PEM file), `ca_pem`, `admin_token` (group system:masters: may do anything).
- `kubeconfig(token=None, namespace="default") -> Path`; `env(token=None) -> {"KUBECONFIG",
  "KUBECACHEDIR"}` for a subprocess; `client(token=None)` -> kubernetes.client.ApiClient.
- `mint(namespace, sa, seconds=3600) -> token` (as TokenRequest); `add_user(name, groups)`.
- Direct state access (admin, no HTTP, not recorded): `get/list/create/apply/delete`,
  `add(kind, name, namespace, labels, **fields)` (a core v1 object),
  `wait_for(fn, timeout)`, `advance(seconds)` (the API's clock: token expiry, timestamps).
- `requests` (list of Seen: method, path, query, user, verb, resource, namespace, name,
  subresource, code), `count(verb=, user=, resource=, method=)`, `issued` (tokens minted).
- `seen(method, path)`: the recorded requests for one method and path.
- `fail(code, path=regex, method=None, times=1)`: inject failures; `stall(path=regex,
  method=None, times=1)`: leave matching requests unanswered until the fake stops.
- `logs.write/close/text(namespace, pod, container)`: what pods/NAME/log serves.

What the API does: discovery (/api, /apis, /version, trailing slashes, core groupVersion "v1",
CRD groups with their scope), an OpenAPI v3 index (enough for kubectl apply), Table output for
`kubectl get` (CRD additionalPrinterColumns too); create (201; uid, resourceVersion,
creationTimestamp, generation; generateName; namespace must exist), get, list and watch with
label and field selectors (watch from a resourceVersion, 410 when too old, timeoutSeconds,
sendInitialEvents bookmarks, objects moving in and out of a selector), PUT (resourceVersion
conflicts), merge / strategic merge / JSON patch, server-side apply (fieldManager, force,
conflicts between managers, fields a manager stops applying are removed, re-applying the same
thing changes nothing and keeps the resourceVersion), the status subresource kept apart from
spec, generation bumped on spec changes, finalizers and deletionTimestamp, garbage collection
by ownerReference (Background, Foreground, Orphan; Jobs default to Orphan as in batch/v1),
namespace deletion, graceful deletion of pods bound to a node (the kubelet finishes it),
defaulting of Pods and Jobs (selector, job-name/controller-uid labels), ServiceAccount
admission (the pod's SA must exist; a kube-api-access projected token volume in every
container unless automountServiceAccountToken is false), a default ServiceAccount and
kube-root-ca.crt per namespace, TokenRequest (expirationSeconds, audiences, boundObjectRef;
tokens fail after expiry, or once the SA or bound object is gone), RBAC (Roles, ClusterRoles,
bindings to ServiceAccounts, Users and Groups; verbs, apiGroups, resources, subresources,
resourceNames; the default cluster-admin/admin/edit/view ClusterRoles; 403 with a Status;
401 for unknown or expired tokens), TokenReview and (Self)SubjectAccessReview.

What it does not: validation against schemas, CEL, defaulting beyond the above, conversion
between CRD versions, protobuf (but for the Secret, ConfigMap and DeleteOptions bodies
Helm's release storage sends), paging (`limit` is ignored: everything in one page), RBAC
escalation checks, admission webhooks, aggregated discovery (clients fall back).
"""

from tests.kube._fake import FakeKube
from tests.kube._kubelet import Kubelet

__all__ = ["FakeKube", "Kubelet"]
