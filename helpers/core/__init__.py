"""The lowest layer: the classifier type, model anatomy (BERT, DistilBERT), numerics, where models and
data come from, errors and quieting. Imports nothing else from `helpers`."""
