from tests.kube.fixtures import docker_kubelet, fake_kube, kubeconfig, kubelet, local_kubelet  # noqa: F401
