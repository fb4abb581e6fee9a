"""Squall: a self-hosted serverless platform that speaks the AWS wire protocols."""

__version__ = "0.1.0"
