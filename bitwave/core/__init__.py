"""The core every stage shares: the integer network IR (``ir``), its ops and golden model
(``golden``), input coding, the design contract between hw, sim and synth, paths, errors and
the tool environment. The core imports no stage."""
