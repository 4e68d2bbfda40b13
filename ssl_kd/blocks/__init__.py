"""Building blocks that methods are made of; nothing here registers a method.

What belongs here: reusable pieces shared by (or written for, and reusable by) the training methods of
:mod:`ssl_kd.methods` -- memory banks and queues, momentum encoders and projection heads (``memory``), relation
miners (``relation_miner``), teacher-output caching and frozen forwards (``teacher_outputs``), pooling of features
(``compact_bilinear``), checkpointed counters (``epoch_counter``).

A block imports nothing from :mod:`ssl_kd.methods`, :mod:`ssl_kd.stages` or the trainer; it may use models, losses
and the process-group helpers of :mod:`ssl_kd.engine.distributed`. A module that calls ``register_method`` is a
method and lives in :mod:`ssl_kd.methods`. Import the modules themselves (``from ssl_kd.blocks.memory import
KeyQueue``); this package imports none of them.
"""
