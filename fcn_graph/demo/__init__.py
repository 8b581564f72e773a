"""Demonstrations: the single-image overfit and bilinear upsampling of a photo."""
