"""The routes from the FP32 classifier to a deployable model: the registry, the comparison pipeline
(for the shared model and the DistilBERT shape) and the record. Imports the layers below."""
