from tests.lab.conftest import lab_world  # noqa: F401 - the starter catalog's world
