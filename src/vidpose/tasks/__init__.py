"""The application layer: each task composes data, models, the engine and evaluation / inference into one
job a user asks for; the CLI calls only these.

- :mod:`vidpose.tasks.train`: train a recipe (``vidpose train``).
- :mod:`vidpose.tasks.evaluate`: score a model on a split (``vidpose evaluate``, validation in training).
- :mod:`vidpose.tasks.predict`: poses of a video, folder or PoseTrack JSON into files (``vidpose predict``).
- :mod:`vidpose.tasks.demo`: the temporal model beside the single-frame baseline (``vidpose demo``).
- :mod:`vidpose.tasks.convert`: foreign weights into a vidpose model file (``vidpose convert``).
- :mod:`vidpose.tasks.synth`: a split of the synthetic benchmark (``vidpose synth``).
- :mod:`vidpose.tasks.check_data`: a dataset folder and a box file checked (``vidpose check-data``).
- :mod:`vidpose.tasks.eval_posetrack`: prediction files scored like poseval (``vidpose eval-posetrack``).
- :mod:`vidpose.tasks.bench_model`: cost of each model size (``vidpose bench model``).
- :mod:`vidpose.tasks.bench_train`: training cost of a recipe (``vidpose bench train``).
- :mod:`vidpose.tasks.devices`: the device a task runs on, from a user's device name (every ``--device``).

Nothing is imported here, so that ``import vidpose.tasks.<task>`` loads only what that task needs.
"""
