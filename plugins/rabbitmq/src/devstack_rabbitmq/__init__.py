"""RabbitMQ plugin."""
