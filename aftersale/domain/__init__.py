"""The after-sale domain: plain Python that decides everything and does no I/O."""
