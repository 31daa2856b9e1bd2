"""One module per verb; each a typed function taking plain arguments and returning an exit code."""
