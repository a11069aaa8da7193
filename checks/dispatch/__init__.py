"""Fan-out of the monthly run over Azure Functions' own scale-out: one queue message per target.

message.py: the message (JSON, schema version); queue.py: enqueue on the fleet queue (Azure Storage
queue, base64 as the Functions queue trigger expects); claims.py: one reservation, then one claim, per
(month, target, attempt) in the journal table, so only a message the verifier sent runs and a
redelivered one never journals twice; handler.py: what the
queue-triggered functions do with a message and with a poisoned one. The faces (checks/queue_face.py,
checks/http_api.py, function_app.py) call these; nothing here imports them.
"""
