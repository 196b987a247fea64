"""Studies beside the design flow: float32 / int16 / int8 / XNOR arithmetic nodes compared
on the same library."""
