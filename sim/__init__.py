"""bitwave.sim: cocotb testbenches proving generated hardware equals the golden model."""
