"""Evaluation: a frozen MNIST classifier (`classifier`) and the metrics on its features (`evaluate`)."""
