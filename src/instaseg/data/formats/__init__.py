"""Readers and writers of dataset formats; each converts to and from InstanceDataset."""
