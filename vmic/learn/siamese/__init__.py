"""The learned recovery: a Siamese regressor on phase maps."""
