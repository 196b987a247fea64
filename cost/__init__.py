"""bitwave.cost: what a speech-enhancement network costs before anyone trains or
synthesizes it: parameters, MACs per second of audio, binary operations, weight and
activation memory, and area/energy/cycle estimates from per-action tables calibrated on the
project's own synthesized nodes."""
