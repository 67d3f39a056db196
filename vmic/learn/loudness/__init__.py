"""Loudness per frame from a CNN-LSTM on space-time images."""
