"""The Kafka boundary: topics, the message codec, the worker loop and the embedded broker launcher."""
