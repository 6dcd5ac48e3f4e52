"""How the suite's tests are ordered and spread over xdist's workers (`make test`: two).

The order (`order`, from conftest's `pytest_collection_modifyitems`): the slow tests first, so
they spread over both workers and the run ends on short tests, not on one worker alone with a
long one; the tests of the shared demo deployment (`demo_deployment.CONSUMERS`) next to each
other, in their order. Everything else keeps pytest's order.

The spreading (`make_scheduler`, for xdist's default `--dist load`): one module at a time to
whichever worker is free, in that order (xdist's own `load` hands each worker a quarter of the
suite up front, the slow tests all to the first), so a module's fixtures are built once; the
demo deployment's tests, which are in three modules, as one unit on one worker, in order.
(`--dist loadgroup` would do the latter, but with pytest 9 xdist 3.8 cannot rename the tests
it groups, and groups nothing.) Any other `--dist` is left to xdist.
"""

from __future__ import annotations

import pytest

from spotify_assets_tests.demo_deployment import consumer_rank, order_consumers

DEMO_DEPLOYMENT = "demo_deployment"


def order(items: list[pytest.Item]) -> None:
    order_consumers(items)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        """A module is a unit (where its first test is in the order), but the demo
        deployment's tests are one unit of their own."""

        def _split_scope(self, nodeid: str) -> str:
            return DEMO_DEPLOYMENT if consumer_rank(nodeid) is not None else nodeid.split("::")[0]

    # Units in our order, not by their number of tests (xdist's default for loadscope).
    config.option.loadscopereorder = False
    return ByModule(config, log)
