"""Synthesis flows: RTL to mapped cells (ASIC and FPGA), and a generated design folder to its
area, timing and power reports with the gate-level golden check."""
