"""In-sandbox runtime code: run by the function's interpreter, standard library only."""
