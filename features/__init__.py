"""Image features: VGG-16 FC7 (Keras `fc2`) or a TF-Hub feature-vector module."""
