"""The application on top of the stages: the ``bitwave`` command line, the main job
(``flow``) and the benchmarks (``bench``). Only this layer imports several stages."""
