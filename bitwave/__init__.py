"""bitwave: bitwise speech-enhancement networks from torch to verified, costed silicon.

The core package holds what every stage shares: the integer network IR (``bitwave.core.ir``),
its golden model (``bitwave.core.golden``), input coding, configuration and the CLI.
The stages are subpackages: ``bitwave.models`` (torch), ``bitwave.hw`` (Amaranth),
``bitwave.sim`` (cocotb), ``bitwave.synth`` (Yosys).
"""

__version__ = "0.1.0"
