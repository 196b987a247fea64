"""bitwave.models: speech-enhancement data, binary/quantized torch layers, training, export."""
