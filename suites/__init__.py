"""Built-in evaluation suites, registered lazily (``"module:object"``): naming them imports nothing heavy."""

from bench.core.suite import SUITES

BUILTIN_SUITES = {
    "sts": "suites.sts:STS_SUITE",
    "sts-dev": "suites.sts:STS_DEV_SUITE",
    "gen": "suites.gen:GEN_SUITE",
    "geometry": "suites.geometry:GEOMETRY_SUITE",
}

for _name, _target in BUILTIN_SUITES.items():
    SUITES.register_lazy(_name, _target)
