"""bitwave's own small EDA engine: liberty reading, the flat gate netlist, gate-level
simulation, static timing, activity-based power, fanout repair and memory macro models."""
