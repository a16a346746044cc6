"""The Rasa project (config, domain, endpoints) and its custom actions."""
