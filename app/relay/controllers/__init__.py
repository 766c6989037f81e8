"""HTTP endpoints of the relay, one module per inbound protocol."""
