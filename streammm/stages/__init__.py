"""Pure stage functions: records in, records out, models passed in; never Kafka, env or the event loop."""
