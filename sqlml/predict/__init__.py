"""PREDICT and PREDICT_PROBA: calls rewritten into the model's engine functions, and
PostgreSQL's path that scores rows in chunks."""
