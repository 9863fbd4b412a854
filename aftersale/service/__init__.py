"""The service layer: the façade a host calls, over the ports the adapters implement."""
