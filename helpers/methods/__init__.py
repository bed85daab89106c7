"""One module per technique, the algorithm only: dynamic, static and torchao INT8, ONNX Runtime,
compiling, pruning, training, distillation, layer sensitivity. Imports `core`, `data` and `measure`."""
