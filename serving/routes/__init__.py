"""HTTP routes: thin functions that parse, call one service function and return a schema."""
