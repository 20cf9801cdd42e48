"""Parquet -> tensors, splits, CGM-VAE, P-VAE, MLP, MDN, LBN, training and metrics."""
