from tests.gateway.conftest import make_app  # noqa: F401  (the in-process gateway)
