"""Plots and tables from run directories and datasets."""
