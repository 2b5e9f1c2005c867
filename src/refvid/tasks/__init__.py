"""Durable tasks: the model, the store (the tasks table is the queue) and the use cases."""
