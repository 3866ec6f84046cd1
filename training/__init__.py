"""Train, evaluate and serve process reward models; PRM-driven active learning."""
