"""CloudWatch Logs: log groups, streams and events (read API first; see README.md)."""
