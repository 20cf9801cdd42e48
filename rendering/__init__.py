"""Slider space, colour spaces, raw decoding and the batched differentiable slider renderer."""
