"""Training engine: config, trainer loop with hooks, optimisation, checkpoints."""
