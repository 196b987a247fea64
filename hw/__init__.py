"""bitwave.hw: Amaranth XNOR-popcount datapaths lowered from the IR, with Verilog out."""
