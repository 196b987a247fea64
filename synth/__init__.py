"""Synthesis with Yosys to a liberty library: area, timing and activity-based power, FPGA
resource counts, and the per-node cost comparison."""
