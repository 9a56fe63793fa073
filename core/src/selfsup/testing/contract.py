"""Contract test suites that every selfsup plugin and method runs.

Subclass a contract in your package's tests, set its class attributes and
hooks, and pytest collects the standard checks::

    from selfsup.testing import MethodContract, PluginContract

    class TestGraphPlugin(PluginContract):
        plugin_name = "graph"
        distribution = "selfsup-graph"
        modality = "graph"

    class TestGRACE(MethodContract):
        method_cls = GRACE
        modality = "graph"

        def make_method(self):
            return GRACE(in_channels=8, hidden_channels=16)

        def make_batch(self, generator):
            return Data(x=torch.randn(10, 8, generator=generator), edge_index=...)

        def malformed_batches(self):
            return [(torch.zeros(3), "Data")]

The suites are self-contained: no pytest fixtures (the classes only use class
attributes and hooks), tiny CPU inputs, no network. The base classes are not
collected themselves (their names do not start with ``Test``); name your
subclass ``Test...``. Each check is also a plain method, so it can be called on
an instance outside pytest.

Do not override or delete the ``test_*`` methods: ``test_no_overrides_DO_NOT_OVERRIDE``
fails when one is replaced without ``@pytest.mark.xfail(reason=...)`` (the
langchain-tests rule), so every deviation from the contract is visible and explained.
"""

from selfsup.testing._contract_base import imported_modules
from selfsup.testing.method_contract import MethodContract
from selfsup.testing.plugin_contract import PluginContract

__all__ = ["MethodContract", "PluginContract", "imported_modules"]
