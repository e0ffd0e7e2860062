"""End-to-end workflows that chain data, training, evaluation and prediction."""
