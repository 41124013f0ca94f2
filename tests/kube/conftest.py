from tests.kube.fixtures import fake_kube, kubeconfig  # noqa: F401
