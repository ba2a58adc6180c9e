"""CLI verbs, one module each; lisq.cli wires them into one parser."""
